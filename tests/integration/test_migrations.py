"""Migrations on real SQLite and Postgres: they build exactly the models' schema, go down
and up again, and the bot refuses to start on a database that needs migrating."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from bot.daemon import Daemon
from bot.settings import load_settings
from schedules import migrate
from schedules.clock import FixedClock
from schedules.db import create_schema, make_engine
from tests.dbs import BACKENDS, PostgresServer, _admin, _quote
from tests.integration.conftest import T0

NEXT_REVISION = '''"""Test only: a revision after the shipped head, so that the head is behind."""

import sqlalchemy as sa
from alembic import op

revision = "test_next"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clinic", sa.Column("motto", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("clinic", "motto")
'''


@pytest.fixture(params=BACKENDS)
def empty_server(request: pytest.FixtureRequest) -> PostgresServer | None:
    """None for SQLite, else the Postgres server (sync: it may build the template)."""
    if request.param == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres_template")
    return server


@pytest.fixture
async def empty_url(empty_server: PostgresServer | None, tmp_path: Path) -> AsyncIterator[str]:
    """A database with nothing in it (the shared fixtures come with the schema)."""
    if empty_server is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"{empty_server.template}_empty_{secrets.token_hex(3)}"
    await _admin(empty_server.admin_url, f"CREATE DATABASE {_quote(name)}")
    try:
        yield empty_server.url(name)
    finally:
        await _admin(empty_server.admin_url, f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")


@pytest.fixture
def newer_scripts(tmp_path: Path) -> Path:
    """The shipped migrations plus a test-only revision after their head."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    head = migrate.head_revision()
    (scripts / "versions" / "test_next_motto.py").write_text(
        NEXT_REVISION.replace("{head}", str(head))
    )
    return scripts


async def differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(migrate.differences)
    finally:
        await engine.dispose()


async def create_all_without_history(url: str) -> None:
    """A database as the bot made it before migrations: ``create_all`` and nothing else."""
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
    finally:
        await engine.dispose()


async def test_upgrade_to_head_on_an_empty_database_gives_exactly_the_models(
    empty_url: str,
) -> None:
    assert await migrate.state(empty_url) == "empty"
    assert await migrate.upgrade(empty_url) == "upgraded"
    assert await migrate.state(empty_url) == "current"
    assert await migrate.is_up_to_date(empty_url)
    assert await migrate.current(empty_url) == migrate.head_revision()
    assert await differences(empty_url) == []
    assert await migrate.upgrade(empty_url) == "up to date"


async def test_downgrade_to_base_then_upgrade_again(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    await migrate.downgrade(empty_url, "base")
    assert await migrate.state(empty_url) == "empty"
    assert await migrate.current(empty_url) is None
    await migrate.upgrade(empty_url)
    assert await migrate.state(empty_url) == "current"
    assert await differences(empty_url) == []


async def test_the_fast_create_schema_leaves_an_empty_database_at_head(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        await create_schema(engine)
        await create_schema(engine)  # twice is harmless
    finally:
        await engine.dispose()
    assert await migrate.state(empty_url) == "current"
    assert await differences(empty_url) == []


async def test_a_database_behind_the_code_is_refused_with_the_command_to_run(
    empty_url: str, newer_scripts: Path
) -> None:
    shipped = migrate.head_revision()
    assert shipped is not None
    await migrate.upgrade(empty_url)  # the shipped head
    assert await migrate.state(empty_url, script_location=newer_scripts) == "behind"
    engine = make_engine(empty_url)
    try:
        with pytest.raises(migrate.SchemaError) as refused:
            await migrate.ensure_schema(engine, newer_scripts)
    finally:
        await engine.dispose()
    assert "is behind" in str(refused.value)
    assert f"Run: aftercare db upgrade --database-url '{migrate.masked(empty_url)}'" in str(
        refused.value
    )
    await migrate.upgrade(empty_url, script_location=newer_scripts)
    assert await migrate.current(empty_url) == "test_next"
    assert await migrate.state(empty_url) == "ahead"  # the shipped code does not know it
    await migrate.downgrade(empty_url, shipped, script_location=newer_scripts)
    assert await migrate.state(empty_url) == "current"
    assert await differences(empty_url) == []


async def test_an_empty_database_is_migrated_when_the_bot_starts(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        await migrate.ensure_schema(engine)
    finally:
        await engine.dispose()
    assert await migrate.state(empty_url) == "current"


async def test_the_bot_refuses_a_database_made_before_migrations(empty_url: str) -> None:
    await create_all_without_history(empty_url)
    assert await migrate.state(empty_url) == "unversioned"
    daemon = Daemon(
        load_settings(database_url=empty_url), FixedClock(T0), token="1:x", base_url=None
    )
    try:
        with pytest.raises(migrate.SchemaError) as refused:
            await daemon.start(poll=False)
    finally:
        await daemon.engine.dispose()
    assert "no migration history" in str(refused.value)
    assert "aftercare db upgrade --database-url" in str(refused.value)


async def test_upgrade_adopts_a_database_made_before_migrations_if_it_matches(
    empty_url: str,
) -> None:
    await create_all_without_history(empty_url)
    assert (await migrate.upgrade(empty_url)).startswith("adopted")
    assert await migrate.state(empty_url) == "current"


async def test_upgrade_refuses_an_unversioned_database_that_differs(empty_url: str) -> None:
    await create_all_without_history(empty_url)
    engine = make_engine(empty_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("DROP INDEX ix_reminder_status_due"))
    finally:
        await engine.dispose()
    with pytest.raises(migrate.SchemaError, match="ix_reminder_status_due"):
        await migrate.upgrade(empty_url)
    assert await migrate.state(empty_url) == "unversioned"


def test_the_refusal_never_prints_the_password() -> None:
    url = "postgresql+asyncpg://aftercare:s3cret@db.example:5432/aftercare"
    message = migrate.refusal("behind", url)
    assert "s3cret" not in message
    assert (
        "aftercare db upgrade --database-url"
        " 'postgresql+asyncpg://aftercare:***@db.example:5432/aftercare'"
    ) in message
