"""Real databases for tests: a fresh SQLite file or a fresh Postgres database per test.

We never fake the database (house style, lesson 5); instead every test that asks
for ``db_url`` or ``db_engine`` runs twice, on SQLite and on Postgres.

Postgres isolation is cheap (lesson 6): the schema is created once per pytest
session in a template database, and each test gets ``CREATE DATABASE ... TEMPLATE``
(about 0.1 s; no migrations to replay), dropped afterwards with ``WITH (FORCE)`` (Postgres 13+). Database names carry the pid and a
random suffix, so parallel runs against one server never collide.

The server is ``AFTERCARE_TEST_POSTGRES_URL`` or, by default, ``postgres@127.0.0.1:5432``
(database ``test``, used only to issue CREATE/DROP DATABASE). When it cannot be
reached the Postgres variants are skipped, except under ``CI=true``: there the
fixture tries to start the local cluster and, failing that, fails the tests.

Use from any test folder by importing the fixtures into its ``conftest.py``::

    from tests.dbs import db_backend, db_engine, db_url, postgres_template  # noqa: F401

``db_url`` yields the URL of an empty database with the schema, for code that builds
its own engine (the daemon); ``db_engine`` yields an engine on it, disposed afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from schedules.db import create_schema, make_engine

BACKENDS = ("sqlite", "postgres")
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_URL_VARIABLE = "AFTERCARE_TEST_POSTGRES_URL"

_T = TypeVar("_T")


class PostgresUnavailable(Exception):
    """The test server cannot be reached; the message says why."""


class Backend(Protocol):
    name: str

    def database(self) -> AbstractAsyncContextManager[str]:
        """A fresh database with the schema, dropped (or left in ``tmp_path``) afterwards."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine from synchronous fixture code, leaving the global event loop alone."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(coroutine)


def postgres_admin_url() -> URL:
    """The maintenance connection (asyncpg driver), from the environment or the default."""
    url = make_url(os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL)
    if url.get_backend_name() not in {"postgresql", "postgres"}:
        raise ValueError(f"{POSTGRES_URL_VARIABLE} must be a postgresql:// URL, not {url!r}")
    return url.set(drivername="postgresql+asyncpg")


def dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _quote(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected database name {name!r}")
    return f'"{name}"'


async def _admin(url: URL, *statements: str) -> None:
    """Run CREATE/DROP DATABASE outside a transaction (asyncpg autocommits)."""
    connection = await asyncpg.connect(dsn(url), timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _probe(url: URL) -> None:
    try:
        await _admin(url, "SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
        raise PostgresUnavailable(
            f"{url.render_as_string(hide_password=True)}: {type(error).__name__}: {error}"
        ) from error


def _start_local_cluster() -> str:
    """Try ``pg_ctlcluster ... start`` for every installed cluster; return what it said."""
    tool = shutil.which("pg_ctlcluster")
    if tool is None or not Path("/etc/postgresql").is_dir():
        return "pg_ctlcluster is not installed"
    said = []
    for version in sorted(p.name for p in Path("/etc/postgresql").iterdir()):
        done = subprocess.run(
            [tool, "--skip-systemctl-redirect", version, "main", "start"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        output = " ".join(f"{done.stdout} {done.stderr}".split())
        said.append(f"{version}/main start: exit {done.returncode} {output}".strip())
    return "; ".join(said)


def _reach_postgres(url: URL) -> None:
    """Return when the server answers; in CI try to start a local cluster first."""
    try:
        _run(_probe(url))
        return
    except PostgresUnavailable as error:
        if not in_ci() or url.host not in {"127.0.0.1", "localhost", "::1"}:
            raise
        first = error
    said = _start_local_cluster()
    # pg_ctlcluster waits for the server; a short bounded retry covers a slow socket.
    for _ in range(20):
        try:
            _run(_probe(url))
            return
        except PostgresUnavailable:
            time.sleep(0.25)
    raise PostgresUnavailable(f"{first} (after trying to start it: {said})")


@dataclass
class PostgresServer:
    """A template database with the schema; clones one per test."""

    admin_url: URL
    template: str
    name: str = "postgres"
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    def open(cls) -> PostgresServer:
        admin_url = postgres_admin_url()
        _reach_postgres(admin_url)
        template = f"aftercare_test_{os.getpid()}_{secrets.token_hex(3)}"
        server = cls(admin_url, template)
        _run(server._build_template())
        return server

    async def _build_template(self) -> None:
        await _admin(self.admin_url, f"CREATE DATABASE {_quote(self.template)}")
        engine = make_engine(self.url(self.template))
        try:
            await create_schema(engine)
        except BaseException:
            await engine.dispose()
            await _admin(self.admin_url, f"DROP DATABASE {_quote(self.template)} WITH (FORCE)")
            raise
        await engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the template unused

    def close(self) -> None:
        _run(
            _admin(self.admin_url, f"DROP DATABASE IF EXISTS {_quote(self.template)} WITH (FORCE)")
        )

    def url(self, database: str) -> str:
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    @asynccontextmanager
    async def database(self) -> AsyncIterator[str]:
        name = f"{self.template}_{next(self._numbers)}"
        await _admin(
            self.admin_url, f"CREATE DATABASE {_quote(name)} TEMPLATE {_quote(self.template)}"
        )
        try:
            yield self.url(name)
        finally:
            await _admin(self.admin_url, f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")


@dataclass
class SqliteFiles:
    """A fresh SQLite file per database, with the schema."""

    directory: Path
    name: str = "sqlite"
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    @asynccontextmanager
    async def database(self) -> AsyncIterator[str]:
        yield await sqlite_with_schema(self.directory / f"aftercare-{next(self._numbers)}.db")


_sqlite_template: list[Path] = []  # made once per test process


async def sqlite_with_schema(path: Path) -> str:
    """The URL of a new SQLite file at ``path`` holding the schema at the head revision: a
    copy of one made once per process (making it takes ~0.2 s, copying ~1 ms)."""
    if not _sqlite_template:
        template = Path(tempfile.mkdtemp(prefix="aftercare-template-")) / "schema.db"
        engine = make_engine(f"sqlite+aiosqlite:///{template}")
        try:
            await create_schema(engine)
        finally:
            await engine.dispose()
        _sqlite_template.append(template)
    shutil.copyfile(_sqlite_template[0], path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[PostgresServer]:
    """The session's Postgres template; skips (or, under CI=true, fails) without a server."""
    try:
        server = PostgresServer.open()
    except PostgresUnavailable as error:
        if in_ci():
            pytest.fail(f"CI=true and Postgres is unreachable: {error}", pytrace=False)
        pytest.skip(
            f"Postgres is unreachable ({error}); start it on 127.0.0.1:5432"
            f" or set {POSTGRES_URL_VARIABLE} to run the postgres variants"
        )
    yield server
    server.close()


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Which database this variant of the test runs on (sync: it may build the template)."""
    if request.param == "sqlite":
        return SqliteFiles(tmp_path)
    server: PostgresServer = request.getfixturevalue("postgres_template")
    return server


@pytest.fixture
async def db_url(db_backend: Backend) -> AsyncIterator[str]:
    async with db_backend.database() as url:
        yield url


@pytest.fixture
async def db_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def postgres_engine(postgres_template: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """Only Postgres, for tests of behaviour SQLite does not have (row locks)."""
    async with postgres_template.database() as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()
