"""Figure 3: due-time → sent, under a steady load below the limit, on the live daemon.

Reminders fall due one after another at ``rate`` a second (each to its own chat); the
daemon's own alarm wakes it. Sent means recorded: ``sent_at`` is written after
Telegram's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.bench.databases import scratch_sqlite
from bot.bench.figures import Figure, at_most
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

SECTION = "3. Latency"
TARGET_P99 = 1.0


@dataclass(frozen=True)
class Latency:
    rate: float
    reminders: int
    sent: int
    p50: float
    p99: float
    worst: float


async def measure(sandbox: RemoteSandbox, rate: float, seconds: float) -> Latency:
    count = max(2, round(rate * seconds))
    async with scratch_sqlite() as url, live_daemon(url, sandbox) as daemon:
        now = daemon.clock.now()
        enrolled = await enrol(
            daemon.engine, first_chat=1, count=count, protocol_id=await protocol_id(daemon),
            now=now,
        )  # fmt: skip
        start = now + timedelta(seconds=2)
        due = [start + timedelta(seconds=i / rate) for i in range(count)]
        await bulk_reminders(url, reminder_rows(enrolled, due))
        daemon.wake()  # as a handler does after changing a plan
        await wait_until(lambda: _none_open(daemon), patience=seconds + 30)
        delays, _ = await reminder_delays(daemon)
    return Latency(
        rate, count, len(delays), percentile(delays, 0.5), percentile(delays, 0.99),
        max(delays, default=float("nan")),
    )  # fmt: skip


async def _none_open(daemon: object) -> bool:
    from bot.daemon import Daemon

    assert isinstance(daemon, Daemon)
    return await open_reminders(daemon) == 0


def figures(result: Latency) -> list[Figure]:
    load = f"{result.rate:.0f}/s for {result.reminders} reminders, {result.sent} sent"
    return [
        Figure("latency.p50", SECTION, f"due → sent p50 ({load})", result.p50, "s", "—"),
        Figure(
            "latency.p99", SECTION, "due → sent p99", result.p99, "s",
            f"target ≤ {TARGET_P99:.0f} s", at_most(result.p99, TARGET_P99),
        ),
        Figure("latency.max", SECTION, "due → sent, worst", result.worst, "s", "—"),
    ]  # fmt: skip
