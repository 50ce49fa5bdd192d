"""Scratch databases for one measurement: a SQLite file, or a Postgres database created on
the server and dropped afterwards (the admin database is used only for CREATE/DROP)."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from schedules.db import create_schema, make_engine

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_VARIABLE = "AFTERCARE_BENCH_POSTGRES_URL"
BACKENDS = ("sqlite", "postgres")


def postgres_admin_url() -> str:
    return os.environ.get(POSTGRES_VARIABLE) or DEFAULT_POSTGRES


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def admin(url: str, *statements: str) -> None:
    """Statements outside a transaction (asyncpg autocommits), e.g. CREATE DATABASE."""
    connection = await asyncpg.connect(_dsn(url), timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def postgres_version(url: str | None = None) -> str | None:
    """The server's version, or None when it cannot be reached."""
    try:
        connection = await asyncpg.connect(_dsn(url or postgres_admin_url()), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


@asynccontextmanager
async def scratch_postgres() -> AsyncIterator[str]:
    """A fresh Postgres database with the schema; dropped (WITH FORCE) on leaving."""
    admin_url = postgres_admin_url()
    name = f"aftercare_bench_{os.getpid()}_{secrets.token_hex(3)}"
    await admin(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        await _with_schema(url)
        yield url
    finally:
        await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def scratch_sqlite() -> AsyncIterator[str]:
    """A fresh SQLite file with the schema, in a directory removed on leaving."""
    with tempfile.TemporaryDirectory(prefix="aftercare-bench-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        await _with_schema(url)
        yield url


def scratch(backend: str) -> AbstractAsyncContextManager[str]:
    """``scratch_sqlite()`` or ``scratch_postgres()`` by name."""
    return scratch_postgres() if backend == "postgres" else scratch_sqlite()


async def _with_schema(url: str) -> None:
    engine = make_engine(url)
    try:
        await create_schema(engine)
    finally:
        await engine.dispose()
