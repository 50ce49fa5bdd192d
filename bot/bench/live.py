"""A real daemon in this process (SystemClock, no polling) against a sandbox process, and
the helpers the live figures share: seeding through its engine, waiting, reading times."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from bot.bench.sandbox_process import TOKEN, RemoteSandbox
from bot.daemon import Daemon
from bot.settings import Settings
from schedules.clock import SystemClock
from schedules.models import Reminder, ReminderStatus


@asynccontextmanager
async def live_daemon(
    url: str, sandbox: RemoteSandbox, *, poll: bool = False, **settings: object
) -> AsyncIterator[Daemon]:
    """A started Daemon (its pass loops, alarm and safety wake running); stopped after.
    ``poll``: it also fetches updates, for figures where patients write."""
    config = Settings(database_url=url, **settings)  # type: ignore[arg-type]
    daemon = Daemon(config, SystemClock(), token=TOKEN, base_url=sandbox.base_url)
    await daemon.start(poll=poll)
    try:
        yield daemon
    finally:
        await daemon.stop()


async def protocol_id(daemon: Daemon) -> int:
    latest = await daemon.catalog.latest(daemon.settings.protocol)
    assert latest is not None
    assert latest.id is not None
    return latest.id


async def wait_until(done: Callable[[], Awaitable[bool]], *, patience: float) -> bool:
    """Poll ``done`` every 0.2 s; False if ``patience`` seconds pass first."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience
    while not await done():
        if loop.time() > give_up:
            return False
        await asyncio.sleep(0.2)
    return True


async def open_reminders(daemon: Daemon) -> int:
    async with daemon.sessions() as session:
        found = await session.exec(
            select(sa.func.count()).where(
                col(Reminder.status).in_([ReminderStatus.PENDING, ReminderStatus.CLAIMED])
            )
        )
        return int(found.one())


async def reminder_delays(daemon: Daemon) -> tuple[list[float], list[datetime]]:
    """Seconds from due to sent of every sent reminder, and the moments they were sent."""
    async with daemon.sessions() as session:
        rows = (
            await session.exec(
                select(Reminder.due_at, Reminder.sent_at).where(
                    Reminder.status == ReminderStatus.SENT
                )
            )
        ).all()
    sent = [s for _, s in rows if s is not None]
    return [(s - d).total_seconds() for d, s in rows if s is not None], sent


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]
