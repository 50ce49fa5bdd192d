"""Schema migrations: Alembic, run in code on an async engine, from any working directory.

The scripts ship in ``schedules/migrations``; the Alembic ``Config`` is built here (no
``alembic.ini``). Every command borrows a sync connection from the async engine through
``run_sync``, inside one transaction.

A database is in one of five states (``state``): ``empty`` (none of our tables),
``current`` (at the head revision), ``behind`` (an older revision), ``ahead`` (a revision
this code does not know: migrated by a newer release) or ``unversioned`` (our tables but
no ``alembic_version``: made by ``create_all`` before migrations existed). ``upgrade`` to
head *adopts* an unversioned database whose tables match the models exactly (it stamps
it); one that differs is refused with the differences, to be fixed by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from schedules import models  # noqa: F401  (registers the tables)
from schedules.errors import AftercareError

State = Literal["empty", "current", "behind", "ahead", "unversioned"]
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
_T = TypeVar("_T")


class SchemaError(AftercareError):
    """The database's schema is not the one this code needs; the message says what to run."""


def alembic_config(script_location: Path | str | None = None) -> Config:
    """Alembic's configuration, pointing at the migrations inside the installed package."""
    config = Config()
    config.set_main_option("script_location", str(script_location or MIGRATIONS))
    return config


def head_revision(script_location: Path | str | None = None) -> str | None:
    """The newest revision the code has (None only without any migration)."""
    return ScriptDirectory.from_config(alembic_config(script_location)).get_current_head()


def masked(url: str | sa.URL) -> str:
    """The URL with its password replaced by ``***``: safe to print and log."""
    return make_url(url).render_as_string(hide_password=True)


def upgrade_command(url: str | sa.URL) -> str:
    return f"aftercare db upgrade --database-url '{masked(url)}'"


@asynccontextmanager
async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    from schedules.db import make_engine  # db imports this module for create_schema

    engine = make_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _in_transaction(engine: AsyncEngine, work: Callable[[Connection], _T]) -> _T:
    async with engine.begin() as connection:
        return await connection.run_sync(work)


def _command(
    script_location: Path | str | None, run: Callable[[Config], None]
) -> Callable[[Connection], None]:
    """An Alembic command bound to a lent connection (read by ``migrations/env.py``)."""

    def work(connection: Connection) -> None:
        config = alembic_config(script_location)
        config.attributes["connection"] = connection
        run(config)

    return work


def _heads(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


def _our_tables(connection: Connection) -> set[str]:
    present = set(sa.inspect(connection).get_table_names())
    return present & set(SQLModel.metadata.tables)


def _state(connection: Connection, script_location: Path | str | None) -> State:
    heads = _heads(connection)
    if not heads:
        return "unversioned" if _our_tables(connection) else "empty"
    script = ScriptDirectory.from_config(alembic_config(script_location))
    if set(heads) == set(script.get_heads()):
        return "current"
    known = {revision.revision for revision in script.walk_revisions()}
    return "behind" if set(heads) <= known else "ahead"


def differences(connection: Connection) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the models."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [
        diff for diff in compare_metadata(context, SQLModel.metadata) if not _is_version_table(diff)
    ]


def _is_version_table(diff: Any) -> bool:
    return (
        isinstance(diff, tuple)
        and diff[0] == "remove_table"
        and getattr(diff[1], "name", None) == VERSION_TABLE
    )


def stamp_if_empty(create: Callable[[Connection], None]) -> Callable[[Connection], None]:
    """``create`` the tables; if the database was empty, record it at the head revision."""

    def work(connection: Connection) -> None:
        was_empty = _state(connection, None) == "empty"
        create(connection)
        if was_empty:
            _command(None, lambda config: command.stamp(config, "head"))(connection)

    return work


async def engine_state(engine: AsyncEngine, script_location: Path | str | None = None) -> State:
    return await _in_transaction(engine, lambda c: _state(c, script_location))


async def state(url: str, *, script_location: Path | str | None = None) -> State:
    async with _engine(url) as engine:
        return await engine_state(engine, script_location)


async def current(url: str) -> str | None:
    """The database's revision (None: not versioned, or at base)."""
    async with _engine(url) as engine:
        heads = await _in_transaction(engine, _heads)
    return ", ".join(heads) or None


async def is_up_to_date(url: str, *, script_location: Path | str | None = None) -> bool:
    return await state(url, script_location=script_location) == "current"


async def upgrade(
    url: str, revision: str = "head", *, script_location: Path | str | None = None
) -> str:
    """Migrate up to ``revision``; an unversioned database is adopted if it matches.

    Returns what was done, in a line: "upgraded", "adopted" (stamped) or "up to date".
    """
    async with _engine(url) as engine:
        return await _in_transaction(engine, lambda c: _upgrade(c, revision, url, script_location))


def _upgrade(
    connection: Connection, revision: str, url: str, script_location: Path | str | None
) -> str:
    found = _state(connection, script_location)
    if found == "unversioned":
        if revision != "head":
            raise SchemaError(
                f"{masked(url)} has tables but no migration history; only `upgrade` to head"
                " can adopt it"
            )
        diffs = differences(connection)
        if diffs:
            shown = "\n".join(f"  {diff}" for diff in diffs[:20])
            raise SchemaError(
                f"{masked(url)} has tables but no migration history, and they differ from"
                f" this version's models ({len(diffs)} differences):\n{shown}\n"
                "Bring the tables in line by hand (or restore a backup), then"
                f" `{upgrade_command(url)}` adopts the database."
            )
        _command(script_location, lambda config: command.stamp(config, "head"))(connection)
        return "adopted (tables matched; stamped at head)"
    if found == "current" and revision == "head":
        return "up to date"
    _command(script_location, lambda config: command.upgrade(config, revision))(connection)
    return "upgraded"


async def downgrade(url: str, revision: str, *, script_location: Path | str | None = None) -> None:
    """Migrate down to ``revision`` ("base" drops every table)."""
    async with _engine(url) as engine:
        await _in_transaction(
            engine,
            _command(script_location, lambda config: command.downgrade(config, revision)),
        )


async def stamp(url: str, revision: str, *, script_location: Path | str | None = None) -> None:
    """Record ``revision`` as the database's without running anything (a repair tool)."""
    async with _engine(url) as engine:
        await _in_transaction(
            engine, _command(script_location, lambda config: command.stamp(config, revision))
        )


async def ensure_schema(engine: AsyncEngine, script_location: Path | str | None = None) -> None:
    """At start-up: migrate an empty database to head, accept a current one, refuse the rest.

    The refusal names the command to run, with the URL's password masked.
    """
    found = await engine_state(engine, script_location)
    if found == "current":
        return
    if found == "empty":
        await _in_transaction(
            engine, _command(script_location, lambda c: command.upgrade(c, "head"))
        )
        return
    raise SchemaError(refusal(found, engine.url))


def refusal(found: State, url: sa.URL | str) -> str:
    where = masked(url)
    if found == "behind":
        why = f"The database {where} is behind this version of aftercare (it needs migrating)."
    elif found == "unversioned":
        why = (
            f"The database {where} has tables but no migration history (it was created"
            " before migrations); upgrading adopts it if its tables match."
        )
    else:
        return (
            f"The database {where} was migrated by a newer aftercare (a revision this"
            " version does not know). Run the newer release, or downgrade with it:"
            " `aftercare db downgrade REVISION`."
        )
    run = f"Run: {upgrade_command(url)}"
    if make_url(url).password:
        run += " (with the real password in place of ***)"
    return f"{why}\n{run}"


def revisions(script_location: Path | str | None = None) -> Sequence[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(script_location))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]
