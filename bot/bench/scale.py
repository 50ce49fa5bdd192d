"""Figure 4: the schedule's scale. The cost of one dispatcher wake-up with nothing due, as
pending reminders grow (it must stay flat: every statement uses the (status, due_at)
index), and enrolments planned and stored per second.

The wake-up is the dispatcher's own ``run_due`` and ``next_due_at``; the statements it
ran are captured and each is EXPLAINed with its real parameters.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bench.databases import scratch
from bot.bench.figures import Figure, at_least, at_most, grouped
from bot.bench.seeding import Enrolled, bulk_reminders, enrol, reminder_rows
from bot.compose import compose
from schedules.catalog import ProtocolCatalog
from schedules.clock import SystemClock
from schedules.db import make_engine, session_factory
from schedules.dispatcher import DispatchConfig, Dispatcher
from schedules.models import Patient
from schedules.outbound import Outbound, SendOutcome
from schedules.planner import Preferences, plan
from schedules.plans import replan_patient
from schedules.protocol import bundled_protocol

SECTION = "4. Scale of the schedule"
INDEX = "ix_reminder_status_due"
PER_TREATMENT = 100  # pending rows per treatment in the scale database
WAKES = 30  # wake-ups timed at each size; the median is reported


class NothingDue:
    """The Sender port for wake-ups that must find nothing to send."""

    async def wait_ready(self, chat_id: int) -> None:
        return None

    async def send(self, message: Outbound) -> SendOutcome:
        raise AssertionError("a wake-up with nothing due tried to send")


@dataclass
class WakeCost:
    pending: int
    median_ms: float


@dataclass
class Scale:
    backend: str
    wakes: list[WakeCost] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)  # statement -> its query plan
    statement_ms: dict[str, float] = field(default_factory=dict)  # at the largest size
    index_used: int = 0


async def measure(backend: str, sizes: list[int]) -> Scale:
    """Grow the pending rows size by size, timing a wake-up at each; EXPLAIN at the last."""
    clock, result = SystemClock(), Scale(backend)
    async with scratch(backend) as url, _engine(url) as engine:
        catalog = ProtocolCatalog(session_factory(engine), clock)
        protocol = await catalog.publish(bundled_protocol())
        assert protocol.id is not None
        dispatcher = Dispatcher(
            session_factory(engine), clock, NothingDue(), compose, catalog,
            DispatchConfig(worker="bench-scale"),
        )  # fmt: skip
        now, written = clock.now(), 0
        enrolled = await enrol(
            engine, first_chat=1, count=max(1, sizes[-1] // PER_TREATMENT),
            protocol_id=protocol.id, now=now,
        )  # fmt: skip
        for size in sizes:
            written += await _grow(url, enrolled, now, written, size - written)
            result.wakes.append(WakeCost(written, await _median_wake(dispatcher)))
        statements = await _captured(engine, dispatcher)
        result.plans = {s: await _explain(engine, s, p) for s, p in statements}
        result.statement_ms = {s: await _time_statement(engine, s, p) for s, p in statements}
        result.index_used = sum(_uses_index(plan) for plan in result.plans.values())
    return result


@asynccontextmanager
async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _grow(url: str, enrolled: Enrolled, now: datetime, first: int, count: int) -> int:
    """``count`` more pending rows, all due in the future (one a second from tomorrow)."""
    start = now + timedelta(days=1)
    due = [start + timedelta(seconds=first + i) for i in range(count)]
    n = len(enrolled.treatment_ids)
    rows = reminder_rows(enrolled, due, first_occurrence=first // n)
    return await bulk_reminders(url, rows)


async def _median_wake(dispatcher: Dispatcher) -> float:
    await dispatcher.run_due()  # warm the connection and the statement caches
    costs = []
    for _ in range(WAKES):
        started = time.perf_counter()
        report = await dispatcher.run_due()
        await dispatcher.next_due_at()
        costs.append(time.perf_counter() - started)
        assert report.handled == 0
    return 1000 * sorted(costs)[len(costs) // 2]


async def _captured(engine: AsyncEngine, dispatcher: Dispatcher) -> list[tuple[str, Any]]:
    """The statements one wake-up runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "reminder" in statement.lower():
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await dispatcher.run_due()
        await dispatcher.next_due_at()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    return seen


async def _explain(engine: AsyncEngine, statement: str, parameters: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(prefix + statement, parameters)
        rows = result.all()
        await connection.rollback()
    return "\n".join(str(row[-1]) for row in rows)


async def _time_statement(engine: AsyncEngine, statement: str, parameters: Any) -> float:
    """Median milliseconds of one statement (rolled back: nothing is due, nothing changes)."""
    costs = []
    async with engine.connect() as connection:
        for _ in range(10):
            started = time.perf_counter()
            await connection.exec_driver_sql(statement, parameters)
            costs.append(time.perf_counter() - started)
        await connection.rollback()
    return 1000 * sorted(costs)[len(costs) // 2]


def _uses_index(plan: str) -> bool:
    return INDEX in plan and "Seq Scan on reminder" not in plan and "SCAN reminder" not in plan


def figures(result: Scale) -> list[Figure]:
    out = [
        Figure(
            f"scale.{result.backend}.wake_ms.{w.pending}", SECTION,
            f"{result.backend}: one empty wake-up, {grouped(w.pending)} pending",
            w.median_ms, "ms", "flat as rows grow",
        )
        for w in result.wakes
    ]  # fmt: skip
    growth = result.wakes[-1].median_ms / result.wakes[0].median_ms if result.wakes else None
    rows = result.wakes[-1].pending / result.wakes[0].pending if result.wakes else 1
    out.append(
        Figure(
            f"scale.{result.backend}.growth", SECTION,
            f"{result.backend}: wake-up cost, largest ÷ smallest ({rows:.0f}× the rows)",
            growth, "×", "≤ 2× (flat)", at_most(growth, 2.0),
        )
    )  # fmt: skip
    total = len(result.plans)
    out.append(
        Figure(
            f"scale.{result.backend}.index", SECTION,
            f"{result.backend}: wake-up statements using {INDEX} (of {total})",
            result.index_used, "", f"all {total}", at_least(result.index_used, total),
        )
    )  # fmt: skip
    return out


def describe_plans(result: Scale) -> str:
    """Each wake-up statement, its median time at the largest size, and its plan."""
    parts = []
    for statement, query_plan in result.plans.items():
        ms = result.statement_ms.get(statement, float("nan"))
        parts.append(f"-- {ms:.2f} ms\n{' '.join(statement.split())}\n{query_plan}")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Enrolments:
    backend: str
    count: int
    seconds: float
    rows: int


async def measure_enrolments(backend: str, count: int) -> Enrolments:
    """Plan and store ``count`` new treatments (``replan_patient``, a commit each), and
    time the pure planner alone on the same inputs."""
    clock = SystemClock()
    async with scratch(backend) as url, _engine(url) as engine:
        sessions = session_factory(engine)
        catalog = ProtocolCatalog(sessions, clock)
        protocol = await catalog.publish(bundled_protocol())
        assert protocol.id is not None
        now = clock.now()
        enrolled = await enrol(engine, first_chat=1, count=count, protocol_id=protocol.id, now=now)
        started, rows = time.perf_counter(), 0
        for patient_id in enrolled.patient_ids:
            async with sessions() as session:
                patient = await session.get(Patient, patient_id)
                assert patient is not None
                rows += (await replan_patient(session, patient, catalog, now=now)).added
                await session.commit()
        seconds = time.perf_counter() - started
    return Enrolments(backend, count, seconds, rows)


def planner_figure(count: int) -> Figure:
    """The pure planner alone: plans a second for the bundled protocol, no database."""
    spec, prefs = bundled_protocol(), Preferences(timezone="Europe/Berlin")
    now = SystemClock().now()
    started = time.perf_counter()
    for i in range(count):
        plan(spec, now - timedelta(hours=i % 48), prefs)
    rate = count / (time.perf_counter() - started)
    return Figure("enrol.pure_planner", SECTION, "the pure planner alone (no database)",
                  rate, "/s", "—")  # fmt: skip


def enrolment_figures(result: Enrolments) -> list[Figure]:
    per_second = result.count / result.seconds if result.seconds else None
    rows = result.rows / result.count if result.count else 0
    return [
        Figure(
            f"enrol.{result.backend}.per_second", SECTION,
            f"{result.backend}: enrolments planned and stored ({rows:.0f} rows each)",
            per_second, "/s", "—",
        ),
    ]  # fmt: skip
