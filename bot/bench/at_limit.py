"""Figure 2: a broadcast at Telegram's limit while patient reminders keep flowing, at the
round trips of real networks.

The real daemon runs the real Broadcaster and Dispatcher on one Pacer; the sandbox process
enforces Telegram's limits (30 messages/s per bot, 1/s per chat) and answers every
sendMessage ``round_trip`` seconds late (its delay fault). The pacer's budget is set to the
limit itself. Rate = messages sent / time from the first to the last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from bot.bench.databases import scratch_sqlite
from bot.bench.figures import Figure, at_least, at_most
from bot.bench.live import (
    live_daemon,
    open_reminders,
    percentile,
    protocol_id,
    reminder_delays,
    wait_until,
)
from bot.bench.sandbox_process import RemoteSandbox
from bot.bench.seeding import bulk_reminders, enrol, reminder_rows
from bot.daemon import Daemon
from schedules import broadcasts
from schedules.models import BroadcastDelivery, DeliveryStatus
from schedules.segments import Everyone

SECTION = "2. At Telegram's limit"
LIMIT = 30.0  # messages a second per bot, as the sandbox enforces it
NEWS = "The clinic is closed on Monday; your reminders carry on as usual."


@dataclass(frozen=True)
class AtLimit:
    recipients: int
    delivered: int
    reminders: int
    reminders_sent: int
    rate: float
    too_many: int
    reminder_wait_p99: float
    reminder_wait_max: float
    round_trip: float


async def measure(
    sandbox: RemoteSandbox, recipients: int, reminders: int, round_trip: float = 0.0
) -> AtLimit:
    sandbox.delay_sends(round_trip)
    before = sandbox.too_many_requests()
    async with (
        scratch_sqlite() as url,
        live_daemon(url, sandbox, messages_per_second=LIMIT) as daemon,
    ):
        assert daemon.clinic is not None
        assert daemon.clinic.id is not None
        now = daemon.clock.now()
        enrolled = await enrol(
            daemon.engine, first_chat=1, count=recipients, protocol_id=await protocol_id(daemon),
            now=now, clinic_id=daemon.clinic.id,
        )  # fmt: skip
        duration = (recipients + reminders) / LIMIT
        due = [now + timedelta(seconds=(i + 0.5) * duration / reminders) for i in range(reminders)]
        await bulk_reminders(url, reminder_rows(enrolled, due))
        await start_broadcast(daemon, daemon.clinic.id, now)
        daemon.wake()
        await wait_until(lambda: _all_done(daemon), patience=duration * 2 + 30)
        delays, reminder_times = await reminder_delays(daemon)
        delivery_times = await _delivery_times(daemon)
    times = sorted(reminder_times + delivery_times)
    span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
    return AtLimit(
        recipients=recipients, delivered=len(delivery_times), reminders=reminders,
        reminders_sent=len(reminder_times), rate=(len(times) - 1) / span if span else 0.0,
        too_many=sandbox.too_many_requests() - before, reminder_wait_p99=percentile(delays, 0.99),
        reminder_wait_max=max(delays, default=0.0), round_trip=round_trip,
    )  # fmt: skip


async def start_broadcast(daemon: Daemon, clinic_id: int, now: datetime) -> None:
    async with daemon.sessions() as session:
        draft = await broadcasts.create_draft(
            session, clinic_id=clinic_id, now=now, text=NEWS, segment=Everyone()
        )
        assert draft.id is not None
        await broadcasts.confirm(session, draft.id, now)


async def _all_done(daemon: Daemon) -> bool:
    async with daemon.sessions() as session:
        open_deliveries = (
            await session.exec(
                select(sa.func.count()).where(
                    col(BroadcastDelivery.status).in_(
                        [DeliveryStatus.PENDING, DeliveryStatus.CLAIMED]
                    )
                )
            )
        ).one()
    return int(open_deliveries) == 0 and await open_reminders(daemon) == 0


async def _delivery_times(daemon: Daemon) -> list[datetime]:
    async with daemon.sessions() as session:
        rows = await session.exec(
            select(BroadcastDelivery.sent_at).where(BroadcastDelivery.status == DeliveryStatus.SENT)
        )
        return [moment for moment in rows.all() if moment is not None]


def figures(result: AtLimit) -> list[Figure]:
    ms = f"{result.round_trip * 1000:.0f} ms"
    key = f"limit.{result.round_trip * 1000:.0f}ms"
    return [
        Figure(
            f"{key}.rate", SECTION,
            f"round trip {ms}: achieved rate, {result.delivered}/{result.recipients} broadcast + "
            f"{result.reminders_sent}/{result.reminders} reminders",
            result.rate, "/s", f"≥ 97 % of {LIMIT:.0f}/s = {0.97 * LIMIT:.1f}/s",
            at_least(result.rate, 0.97 * LIMIT),
        ),
        Figure(
            f"{key}.share", SECTION, f"round trip {ms}: achieved rate as a share of the limit",
            100 * result.rate / LIMIT, "%", "≥ 97 %", at_least(100 * result.rate / LIMIT, 97),
        ),
        Figure(
            f"{key}.429", SECTION, f"round trip {ms}: 429 answers from the sandbox",
            result.too_many, "", "0", at_most(result.too_many, 0),
        ),
        Figure(
            f"{key}.reminder_wait_p99", SECTION,
            f"round trip {ms}: due → sent of a reminder mid-broadcast, p99",
            result.reminder_wait_p99, "s", "≤ 1 s", at_most(result.reminder_wait_p99, 1.0),
        ),
        Figure(
            f"{key}.reminder_wait_max", SECTION,
            f"round trip {ms}: due → sent of a reminder mid-broadcast, longest",
            result.reminder_wait_max, "s", "(reported)", None,
        ),
    ]  # fmt: skip
