"""Figure 1: reminders claimed, rendered, sent and marked sent per second, one process.

The sandbox runs in a process of its own with its limits off, and the pacer's budget is
set beyond reach, so what is measured is our side: database, rendering, PTB and HTTP.
Each reminder goes to its own chat (the per-chat gap of 1 s never applies).
"""

from __future__ import annotations

import cProfile
import time
from dataclasses import dataclass
from datetime import timedelta

from bot.bench.databases import scratch
from bot.bench.figures import Figure, at_least
from bot.bench.sandbox_process import TOKEN, RemoteSandbox
from bot.bench.seeding import bulk_reminders, enrol, reminder_rows
from bot.bench.wiring import UNPACED, wired_dispatcher
from schedules.clock import SystemClock
from schedules.db import make_engine
from schedules.dispatcher import DispatchReport

SECTION = "1. Dispatch throughput"
TARGET = 2000.0


@dataclass(frozen=True)
class Throughput:
    backend: str
    reminders: int
    seconds: float
    report: DispatchReport
    cpu_ours: float  # CPU seconds of this process (all its threads) during the run
    cpu_sandbox: float

    @property
    def per_second(self) -> float:
        return self.report.sent / self.seconds if self.seconds > 0 else 0.0


async def measure(
    backend: str, sandbox: RemoteSandbox, count: int, *, profile: cProfile.Profile | None = None
) -> Throughput:
    """Seed ``count`` due reminders on a scratch database and time one ``run_due``."""
    clock = SystemClock()
    async with (
        scratch(backend) as url,
        wired_dispatcher(url, clock, sandbox.base_url, TOKEN, per_second=UNPACED) as wired,
    ):
        engine = make_engine(url)
        try:
            now = clock.now()
            enrolled = await enrol(
                engine, first_chat=1, count=count, protocol_id=wired.protocol_id, now=now
            )
        finally:
            await engine.dispose()
        due = [now - timedelta(seconds=1)] * count
        await bulk_reminders(url, reminder_rows(enrolled, due))
        cpu_sandbox, cpu_ours = sandbox.cpu_seconds(), time.process_time()
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        report = await wired.dispatcher.run_due()
        if profile is not None:
            profile.disable()
        seconds = time.perf_counter() - started
        cpu_ours, cpu_sandbox = time.process_time() - cpu_ours, sandbox.cpu_seconds() - cpu_sandbox
        return Throughput(backend, count, seconds, report, cpu_ours, cpu_sandbox)


def figures(result: Throughput) -> list[Figure]:
    rate, sent, backend = result.per_second, result.report.sent, result.backend
    complete = sent == result.reminders
    per_message = 1000 / sent if sent else float("nan")
    return [
        Figure(
            key=f"dispatch.{backend}.per_second",
            section=SECTION,
            label=f"{backend}: reminders sent and recorded ({sent} of {result.reminders})",
            value=rate,
            unit="/s",
            comparison=f"target ≥ {TARGET:.0f}/s",
            met=bool(at_least(rate, TARGET)) and complete,
        ),
        Figure(
            key=f"dispatch.{backend}.cpu_ms_ours",
            section=SECTION,
            label=f"{backend}: CPU of our process per reminder",
            value=result.cpu_ours * per_message,
            unit="ms",
            comparison=f"≤ {1000 / TARGET:.1f} ms needed for the target on one core",
        ),
        Figure(
            key=f"dispatch.{backend}.cpu_ms_sandbox",
            section=SECTION,
            label=f"{backend}: CPU of the sandbox process per reminder",
            value=result.cpu_sandbox * per_message,
            unit="ms",
            comparison="the fake Telegram's share (its own process)",
        ),
    ]
