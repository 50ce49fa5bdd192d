"""Engine and sessions. Built by the composition root, never at import time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules import models  # noqa: F401  (registers the tables)

SessionFactory = async_sessionmaker[AsyncSession]


def make_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    # Handlers of different chats, three pass loops and a window of sends share the pool:
    # SQLAlchemy's 5 + 10 ran dry under a burst of button taps during a backlog.
    pool = {"pool_size": 10, "max_overflow": 20}
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, **pool)
    engine = create_async_engine(url, connect_args={"timeout": 30}, **pool)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def connection_lost(error: BaseException) -> bool:
    """True if ``error`` says the database connection failed (worth a retry on a new one),
    not that the statement was wrong."""
    if isinstance(error, OSError | OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def create_schema(engine: AsyncEngine) -> None:
    """Create missing tables fast (``create_all``), for tests and one-shot CLI commands.

    An empty database is also stamped at the head migration, as ``upgrade head`` would
    leave it (the drift test keeps the two identical); a database with tables already is
    left unstamped. The bot itself migrates with ``schedules.migrate.ensure_schema``.
    """
    from schedules.migrate import stamp_if_empty  # the migrations import this module

    async with engine.begin() as connection:
        await connection.run_sync(stamp_if_empty(SQLModel.metadata.create_all))


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"
