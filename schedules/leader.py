"""Which process dispatches: the holder of a Postgres advisory lock, one per bot token.

Any number of ``aftercare run`` processes may share one Postgres database. Each answers
the updates it receives (webhook mode, behind a load balancer); exactly one, the holder
of a session-level advisory lock keyed by the bot's id, claims and sends reminders,
alerts and broadcasts (and, in polling mode, polls: Telegram serves one poller per
bot). The lock lives on a connection of its own. When the holder dies, Postgres drops
that connection and the lock with it, and a standby takes it on its next try.

Claims with leases stay the guarantee against double sends; the lock keeps standbys
from competing and tells a new leader that the old one's claims are orphans.

SQLite is one process per file by design: there, this process always leads.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.models import BroadcastDelivery, DeliveryStatus, Reminder, ReminderStatus

log = logging.getLogger(__name__)


def lock_key(purpose: str, token: str) -> int:
    """A signed 64-bit advisory-lock key for ``purpose`` and the bot's id (not its secret)."""
    bot_id = token.split(":", 1)[0]
    digest = hashlib.blake2b(f"aftercare:{purpose}:{bot_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leadership(Protocol):
    # True once the database answered that another process holds the lead; False while
    # this process leads or the database cannot say (it is unreachable).
    led_elsewhere: bool

    async def try_lead(self) -> bool:
        """True while this process leads: keeps the lock it has, or tries to take it."""

    async def release(self) -> None:
        """Give the lead up (at shutdown), so that a standby takes over at once."""


class SoleLeader:
    """SQLite: one process per database file, always the leader."""

    led_elsewhere = False

    async def try_lead(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLock:
    """The lead is ``pg_try_advisory_lock(key)`` held on one autocommit connection."""

    def __init__(self, engine: AsyncEngine, key: int) -> None:
        self._engine = engine
        self._key = key
        self._connection: AsyncConnection | None = None
        self.led_elsewhere = False

    async def try_lead(self) -> bool:
        if self._connection is not None:
            return await self._still_held()
        self.led_elsewhere = False
        try:
            connection = await self._engine.connect()
        except (OSError, SQLAlchemyError) as error:
            log.warning("leader lock: database unreachable (%s)", type(error).__name__)
            return False
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            taken = await connection.scalar(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
            )
        except (OSError, SQLAlchemyError) as error:
            log.warning("leader lock: could not ask for it (%s)", type(error).__name__)
            await _close(connection)
            return False
        if taken:
            self._connection = connection
            return True
        self.led_elsewhere = True
        await _close(connection)
        return False

    async def _still_held(self) -> bool:
        """The lock lives as long as its connection: check that the connection answers."""
        assert self._connection is not None
        try:
            await self._connection.scalar(sa.text("SELECT 1"))
            return True
        except (OSError, SQLAlchemyError) as error:
            log.warning("leader lock: connection lost (%s); the lead is gone", type(error).__name__)
            await self._discard()
            return False

    async def release(self) -> None:
        if self._connection is None:
            return
        with contextlib.suppress(OSError, SQLAlchemyError):
            await self._connection.scalar(
                sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
            )
        await self._discard()

    async def _discard(self) -> None:
        """Close the connection for good (never back into the pool, a lock may cling to it)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(OSError, SQLAlchemyError):
                await connection.invalidate()
            await _close(connection)


async def _close(connection: AsyncConnection) -> None:
    with contextlib.suppress(OSError, SQLAlchemyError):
        await connection.close()


async def claims_of_others(session: AsyncSession, worker: str) -> int:
    """Reminders and broadcast deliveries some other worker holds claimed right now: what a
    new leader would take over from the last one."""
    held = 0
    for table, claimed in (
        (Reminder, ReminderStatus.CLAIMED),
        (BroadcastDelivery, DeliveryStatus.CLAIMED),
    ):
        owner = col(table.claimed_by)
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(table)
            .where(col(table.status) == claimed, sa.or_(owner.is_(None), owner != worker))
        )
        held += int(count or 0)
    return held


def leadership_for(engine: AsyncEngine, token: str) -> Leadership:
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, lock_key("dispatch", token))
    return SoleLeader()


@contextlib.asynccontextmanager
async def startup_turn(engine: AsyncEngine, token: str) -> AsyncIterator[None]:
    """Processes starting together take turns at migrations and seeding (Postgres only)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = lock_key("startup", token)
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            await connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
