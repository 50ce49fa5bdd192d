"""Figure 5: memory with many scheduled reminders, ours against the conventional design.

Each bot runs in a process of its own against a sandbox process; its RSS is read from
``/proc/<pid>/status`` once it says it is ready and has settled. Both are then started a
second time, as after a restart: the baseline (``benchmarks/jobqueue_baseline.py``) holds
what it was given in memory, so it comes back with none; our daemon's are rows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select

from bot.bench.databases import scratch_sqlite
from bot.bench.figures import Figure, at_least, grouped
from bot.bench.sandbox_process import TOKEN, RemoteSandbox
from bot.bench.seeding import bulk_reminders, enrol, reminder_rows
from schedules.catalog import ProtocolCatalog
from schedules.clock import SystemClock
from schedules.db import make_engine, session_factory
from schedules.models import Reminder, ReminderStatus
from schedules.protocol import bundled_protocol

SECTION = "5. Memory"
SETTLE = 2.0  # seconds after "ready" before RSS is read (first dispatch pass, first poll)
PATIENTS = 1000
REPOSITORY = Path(__file__).resolve().parents[2]  # where ``benchmarks/`` is


@dataclass(frozen=True)
class Run:
    rss_mb: float
    kept: int  # reminders it still has (jobs in memory, or pending rows)


@dataclass(frozen=True)
class Memory:
    reminders: int
    ours: Run
    ours_restarted: Run
    baseline: Run
    baseline_restarted: Run


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line")


@asynccontextmanager
async def _child(
    command: list[str], ready: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[int, str]]:
    """Run ``command`` until it prints a line containing ``ready``; kill it on leaving."""
    child = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=REPOSITORY
    )
    try:
        assert child.stdout is not None
        async for raw in child.stdout:
            line = raw.decode(errors="replace")
            if ready in line:
                yield child.pid, line.strip()
                return
        raise RuntimeError(f"{command[2]} ended before it was ready")
    finally:
        if child.returncode is None:
            child.kill()  # a crash is a restart too; neither needs a clean stop to be measured
        await child.wait()


async def _baseline(sandbox: RemoteSandbox, jobs: int, settle: float) -> Run:
    command = [
        sys.executable, "-m", "benchmarks.jobqueue_baseline", "--base-url", sandbox.base_url,
        "--token", TOKEN, "--jobs", str(jobs), "--patients", str(PATIENTS),
    ]  # fmt: skip
    async with _child(command, "ready jobs=") as (pid, line):
        await asyncio.sleep(settle)
        return Run(rss_mb(pid), int(line.rsplit("=", 1)[1]))


async def _ours(sandbox: RemoteSandbox, url: str, settle: float) -> Run:
    command = [
        sys.executable, "-m", "bot", "run", "--token", TOKEN, "--api-base-url",
        sandbox.base_url, "--database-url", url,
    ]  # fmt: skip
    env = {**_environment(), "AFTERCARE_LOG_LEVEL": "WARNING"}
    async with _child(command, "aftercare is running", env) as (pid, _):
        await asyncio.sleep(settle)
        rss = rss_mb(pid)
    return Run(rss, await _pending(url))


def _environment() -> dict[str, str]:
    return dict(os.environ)


async def _pending(url: str) -> int:
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            found = await session.exec(
                select(sa.func.count()).where(col(Reminder.status) == ReminderStatus.PENDING)
            )
            return int(found.one())
    finally:
        await engine.dispose()


async def _seed(url: str, reminders: int) -> None:
    engine = make_engine(url)
    try:
        clock = SystemClock()
        protocol = await ProtocolCatalog(session_factory(engine), clock).publish(bundled_protocol())
        assert protocol.id is not None
        now = clock.now()
        enrolled = await enrol(
            engine, first_chat=1, count=PATIENTS, protocol_id=protocol.id, now=now
        )
    finally:
        await engine.dispose()
    due = [now + timedelta(days=1, minutes=i) for i in range(reminders)]
    await bulk_reminders(url, reminder_rows(enrolled, due))


async def measure(sandbox: RemoteSandbox, reminders: int, *, settle: float = SETTLE) -> Memory:
    """Both bots side by side (each in its own processes), each started, then restarted."""

    async def baseline() -> tuple[Run, Run]:
        first = await _baseline(sandbox, reminders, settle)
        return first, await _baseline(sandbox, 0, settle)

    async def ours() -> tuple[Run, Run]:
        async with scratch_sqlite() as url:
            await _seed(url, reminders)
            first = await _ours(sandbox, url, settle)
            return first, await _ours(sandbox, url, settle)

    (base, base_again), (mine, mine_again) = await asyncio.gather(baseline(), ours())
    return Memory(reminders, mine, mine_again, base, base_again)


def figures(result: Memory) -> list[Figure]:
    n = result.reminders
    ratio = result.baseline.rss_mb / result.ours.rss_mb if result.ours.rss_mb else None
    per_job = (result.baseline.rss_mb - result.baseline_restarted.rss_mb) * 1024 * 1024 / n
    return [
        Figure("memory.ours.rss", SECTION, f"our daemon, {grouped(n)} reminders scheduled",
               result.ours.rss_mb, "MB", f"baseline: {result.baseline.rss_mb:.0f} MB"),
        Figure("memory.baseline.rss", SECTION, f"JobQueue baseline, {grouped(n)} run_once jobs",
               result.baseline.rss_mb, "MB", "benchmarks/jobqueue_baseline.py"),
        Figure("memory.ratio", SECTION, "baseline RSS ÷ our RSS", ratio, "×", "> 1: we are leaner",
               None if ratio is None else ratio > 1),
        Figure("memory.baseline.per_job", SECTION, "baseline memory per job (with − without)",
               per_job, "bytes", "ours: rows on disk, not in memory"),
        Figure("memory.ours.kept", SECTION, "ours after a restart: reminders still scheduled",
               result.ours_restarted.kept, "", f"all {n}", at_least(result.ours_restarted.kept, n)),
        Figure("memory.baseline.kept", SECTION, "baseline after a restart: jobs still scheduled",
               result.baseline_restarted.kept, "", f"of {n} (it keeps them in memory only)"),
        Figure("memory.ours.rss_restarted", SECTION, "our daemon after the restart",
               result.ours_restarted.rss_mb, "MB", "—"),
    ]  # fmt: skip
