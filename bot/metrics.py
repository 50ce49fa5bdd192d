"""Prometheus metrics for one daemon: counts only, never patient data or chat ids.

Each daemon owns a :class:`~prometheus_client.CollectorRegistry` (not the process-global
one), so a test can run several daemons side by side. Counters grow from what the daemon
does (dispatch passes, 429 answers); gauges are read from the database at scrape time with
a few cheap ``COUNT`` queries, so every process sharing a database reports the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from sqlalchemy import func
from sqlmodel import col, select

from schedules.db import SessionFactory
from schedules.dispatcher import DispatchReport
from schedules.models import (
    BroadcastDelivery,
    EscalationState,
    Reminder,
    ReminderStatus,
    SymptomReport,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LIVE_ESCALATIONS = (EscalationState.OPEN, EscalationState.ACKNOWLEDGED)


@dataclass(frozen=True)
class DatabaseCounts:
    """What the gauges show, read in one go so a scrape never mixes two moments."""

    pending: int
    lag_seconds: float
    escalations_open: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    triage: dict[str, int] = field(default_factory=dict)


async def dispatch_lag_seconds(sessions: SessionFactory, now: datetime) -> float:
    """How late the oldest due pending reminder is at ``now`` (0 when nothing is overdue)."""
    async with sessions() as session:
        oldest = (
            await session.exec(
                select(func.min(Reminder.due_at)).where(
                    col(Reminder.status) == ReminderStatus.PENDING, col(Reminder.due_at) <= now
                )
            )
        ).one()
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


async def read_counts(sessions: SessionFactory, now: datetime) -> DatabaseCounts:
    """The gauges' values: pending reminders, lag, and counts grouped by a label."""
    async with sessions() as session:
        pending = (
            await session.exec(
                select(func.count())
                .select_from(Reminder)
                .where(col(Reminder.status) == ReminderStatus.PENDING)
            )
        ).one()
        escalations = await session.exec(
            select(SymptomReport.level, func.count())
            .where(col(SymptomReport.state).in_(_LIVE_ESCALATIONS))
            .group_by(col(SymptomReport.level))
        )
        open_by_level = {str(level): int(n) for level, n in escalations.all()}
        deliveries = await session.exec(
            select(BroadcastDelivery.status, func.count()).group_by(col(BroadcastDelivery.status))
        )
        by_status = {str(status): int(n) for status, n in deliveries.all()}
        triage = await session.exec(
            select(SymptomReport.level, func.count()).group_by(col(SymptomReport.level))
        )
        by_level = {str(level): int(n) for level, n in triage.all()}
    lag = await dispatch_lag_seconds(sessions, now)
    return DatabaseCounts(int(pending), lag, open_by_level, by_status, by_level)


class DaemonMetrics:
    """The daemon's registry: counters it increments, gauges it fills at each scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reminders_sent = Counter(
            "aftercare_reminders_sent", "Reminders delivered by this process", registry=r
        )
        self.reminders_failed = Counter(
            "aftercare_reminders_failed",
            "Reminders given up on by this process: retries exhausted or patient unreachable",
            registry=r,
        )
        self.telegram_429 = Counter(
            "aftercare_telegram_429", "429 Too Many Requests answers from the Bot API", registry=r
        )
        self.leader = Gauge(
            "aftercare_leader",
            "1 while this process dispatches for its bot, 0 while it stands by",
            registry=r,
        )
        self.reminders_pending = Gauge(
            "aftercare_reminders_pending", "Reminders waiting to be sent (database)", registry=r
        )
        self.dispatch_lag = Gauge(
            "aftercare_dispatch_lag_seconds",
            "How late the oldest due pending reminder is (database, daemon clock)",
            registry=r,
        )
        self.escalations_open = Gauge(
            "aftercare_escalations_open",
            "Escalations not yet closed, by triage level (database)",
            ["level"],
            registry=r,
        )
        self.broadcast_deliveries = Gauge(
            "aftercare_broadcast_deliveries_total",
            "Broadcast delivery rows by status (database)",
            ["status"],
            registry=r,
        )
        self.triage = Gauge(
            "aftercare_triage_total",
            "Symptom reports stored, by triage level (database; retention may lower it)",
            ["level"],
            registry=r,
        )

    def observe_pass(self, report: DispatchReport) -> None:
        """Count one dispatch pass's outcome."""
        self.reminders_sent.inc(report.sent)
        self.reminders_failed.inc(report.failed + report.unreachable)

    def observe_429(self) -> None:
        self.telegram_429.inc()

    def render(self, counts: DatabaseCounts) -> bytes:
        """The exposition text with the gauges set from ``counts`` (no awaits in between)."""
        self.reminders_pending.set(counts.pending)
        self.dispatch_lag.set(counts.lag_seconds)
        for gauge, values in (
            (self.escalations_open, counts.escalations_open),
            (self.broadcast_deliveries, counts.deliveries),
            (self.triage, counts.triage),
        ):
            gauge.clear()
            for label, value in values.items():
                gauge.labels(label).set(value)
        return generate_latest(self.registry)
