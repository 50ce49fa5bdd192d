"""Alembic's entry point: run the migrations on the connection ``schedules.migrate`` lends.

``schedules.migrate`` opens an async engine and hands Alembic a sync connection through
``run_sync``, in ``config.attributes["connection"]``. Run by the ``alembic`` command
instead (``-x url=...`` or ``sqlalchemy.url``), it opens its own engine the same way.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from schedules import models  # noqa: F401  (registers the tables)
from schedules.db import make_engine

TARGET = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=TARGET,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_own_engine(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported; give a database URL")
    lent = context.config.attributes.get("connection")
    if lent is not None:
        _run(lent)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("no database URL: pass -x url=... or use `aftercare db upgrade`")
    asyncio.run(_run_on_own_engine(url))


_main()
