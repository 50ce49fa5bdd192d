"""Symptom reports and the escalations they open, kept in the database so none is missed.

An emergency or urgent report is alerted to the clinic's staff at once and again every
few minutes until a staff member acknowledges it. The report rows are the schedule:
``next_alert_at`` is when the next alert is due; claims with a lease keep two processes
from alerting at the same moment, and a crash between alert and record means at most
one extra alert, never a missing one. Routine follow-ups wait in the review queue
(``/escalations``) without push alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.models import EscalationState, StaffAlert, SymptomReport

# How often an unacknowledged report is alerted again, by triage level.
REALERT_EVERY = {"emergency": timedelta(minutes=5), "urgent": timedelta(minutes=15)}
FOR_REVIEW = ("emergency", "urgent", "routine_followup")
_SEVERITY = {"emergency": 0, "urgent": 1, "routine_followup": 2, "expected": 3}
_LIVE = (EscalationState.OPEN, EscalationState.ACKNOWLEDGED)


def is_alerted(level: str) -> bool:
    """Levels that push alerts to staff until acknowledged."""
    return level in REALERT_EVERY


def state_for(level: str) -> EscalationState:
    return EscalationState.OPEN if level in FOR_REVIEW else EscalationState.NONE


async def record_report(session: AsyncSession, report: SymptomReport, now: datetime) -> int:
    """Store a new report (made at ``report.created_at``, or now); an alerted level, or a
    photo, goes to staff right away."""
    report.state = state_for(report.level)
    pushed = is_alerted(report.level) or report.photo_file_id is not None
    report.next_alert_at = now if pushed else None
    report.created_at = getattr(report, "created_at", None) or now
    session.add(report)
    await session.commit()
    assert report.id is not None
    return report.id


async def settle_report(
    session: AsyncSession,
    report_id: int,
    level: str,
    findings: Sequence[str],
    now: datetime,
    *,
    done: bool = True,
) -> SymptomReport | None:
    """The patient answered the checklist (``done``) or ticked one more box (not done).

    Only ever raises severity; a rise to an alerted level alerts staff now, again if they
    were alerted at a lower level. None if the report was already settled (a second press).
    """
    report = await session.get(SymptomReport, report_id)
    if report is None or not report.clarifying:
        return None
    report.clarifying = not done
    rose = _SEVERITY.get(level, 9) < _SEVERITY.get(report.level, 9)
    if rose:
        report.level = level
    report.findings = [*report.findings, *(f for f in findings if f not in report.findings)]
    if report.state == EscalationState.NONE or report.state == EscalationState.OPEN:
        report.state = state_for(report.level)
        if is_alerted(report.level) and (report.alerts_sent == 0 or rose):
            report.next_alert_at = now
            # Written even if it looks unchanged here: an alert recorded meanwhile may have
            # moved it to the level's re-alert interval.
            flag_modified(report, "next_alert_at")
    session.add(report)
    await session.commit()
    return report


async def claim_due_alerts(
    session: AsyncSession, *, now: datetime, lease: timedelta, limit: int = 50
) -> list[SymptomReport]:
    """Claim open reports whose alert is due (most severe first, then oldest); commits."""
    due = (
        col(SymptomReport.state) == EscalationState.OPEN,
        col(SymptomReport.next_alert_at) <= now,
        sa.or_(
            col(SymptomReport.alert_claimed_until).is_(None),
            col(SymptomReport.alert_claimed_until) < now,
        ),
    )
    pick = (
        sa.select(col(SymptomReport.id))
        .where(*due)
        .order_by(col(SymptomReport.next_alert_at))
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    claimed = await session.exec(
        sa.update(SymptomReport)
        .where(col(SymptomReport.id).in_(pick.scalar_subquery()), *due)
        .values(alert_claimed_until=now + lease)
        .returning(col(SymptomReport.id))
    )
    ids = list(claimed.scalars())
    await session.commit()
    if not ids:
        return []
    rows = (await session.exec(select(SymptomReport).where(col(SymptomReport.id).in_(ids)))).all()
    return sorted(rows, key=lambda r: (_SEVERITY.get(r.level, 9), r.created_at))


async def record_alerts(
    session: AsyncSession,
    report_id: int,
    sent: Sequence[tuple[int, int]],
    *,
    now: datetime,
    alerted_level: str,
) -> None:
    """Note the alert messages (chat id, message id) and when to alert again: after the
    level's interval, or at once if the report rose above ``alerted_level`` while the
    alert was on its way (a checklist tick). One UPDATE that reads the row as it is when
    written, so a tick committed meanwhile is never overwritten."""
    if await session.get(SymptomReport, report_id) is None:
        return  # forgotten meanwhile (/forget): nothing to note
    _add_alert_rows(session, report_id, sent, now)
    interval = REALERT_EVERY.get(alerted_level)
    again = sa.case(
        (col(SymptomReport.state) != EscalationState.OPEN, None),
        (col(SymptomReport.level) != alerted_level, now),
        else_=now + interval if interval else None,
    )
    await session.exec(
        sa.update(SymptomReport)
        .where(col(SymptomReport.id) == report_id)
        .values(
            alerts_sent=col(SymptomReport.alerts_sent) + (1 if sent else 0),
            next_alert_at=again,
            alert_claimed_until=None,
        )
    )
    await session.commit()


def _add_alert_rows(
    session: AsyncSession, report_id: int, sent: Sequence[tuple[int, int]], now: datetime
) -> None:
    for chat_id, message_id in sent:
        session.add(
            StaffAlert(report_id=report_id, chat_id=chat_id, message_id=message_id, sent_at=now)
        )


async def remember_alerts(
    session: AsyncSession, report_id: int, sent: Sequence[tuple[int, int]], now: datetime
) -> None:
    """Messages showing a report (e.g. in /escalations) that a staff reply may answer."""
    _add_alert_rows(session, report_id, sent, now)
    await session.commit()


async def release_alert(session: AsyncSession, report_id: int, retry_at: datetime) -> None:
    """Alerting failed (network, nobody to alert): try again at ``retry_at``."""
    await session.exec(
        sa.update(SymptomReport)
        .where(col(SymptomReport.id) == report_id, col(SymptomReport.state) == EscalationState.OPEN)
        .values(alert_claimed_until=None, next_alert_at=retry_at)
    )
    await session.commit()


async def release_alert_claims(session: AsyncSession) -> int:
    """Drop every alert claim (only the leader claims): due alerts go out on the next pass."""
    result = await session.exec(
        sa.update(SymptomReport)
        .where(col(SymptomReport.alert_claimed_until).is_not(None))
        .values(alert_claimed_until=None)
    )
    await session.commit()
    return int(result.rowcount)


async def acknowledge(session: AsyncSession, report_id: int, staff_id: int, now: datetime) -> bool:
    """Stop the re-alerts; False if someone else acknowledged (or closed) it first."""
    result = await session.exec(
        sa.update(SymptomReport)
        .where(col(SymptomReport.id) == report_id, col(SymptomReport.state) == EscalationState.OPEN)
        .values(
            state=EscalationState.ACKNOWLEDGED,
            acknowledged_by=staff_id,
            acknowledged_at=now,
            next_alert_at=None,
        )
    )
    await session.commit()
    return bool(result.rowcount == 1)


async def close(session: AsyncSession, report_id: int, staff_id: int, now: datetime) -> bool:
    """Done with: leaves the review queue. Closing acknowledges too, if nobody had."""
    report = await session.get(SymptomReport, report_id)
    if report is None or report.state not in _LIVE:
        return False
    if report.acknowledged_by is None:
        report.acknowledged_by, report.acknowledged_at = staff_id, now
    report.state, report.closed_at, report.next_alert_at = EscalationState.CLOSED, now, None
    session.add(report)
    await session.commit()
    return True


async def report_for_alert(
    session: AsyncSession, chat_id: int, message_id: int
) -> SymptomReport | None:
    """The report a staff alert message belongs to (for replies to it)."""
    alert = (
        await session.exec(
            select(StaffAlert).where(
                col(StaffAlert.chat_id) == chat_id, col(StaffAlert.message_id) == message_id
            )
        )
    ).first()
    return None if alert is None else await session.get(SymptomReport, alert.report_id)


async def alerts_of(session: AsyncSession, report_id: int) -> list[StaffAlert]:
    rows = await session.exec(select(StaffAlert).where(col(StaffAlert.report_id) == report_id))
    return list(rows.all())


async def review_queue(
    session: AsyncSession, clinic_id: int | None, limit: int = 20
) -> list[SymptomReport]:
    """Open and acknowledged reports of a clinic, most severe first, then oldest."""
    rows = await session.exec(
        select(SymptomReport).where(
            col(SymptomReport.clinic_id) == clinic_id, col(SymptomReport.state).in_(_LIVE)
        )
    )
    ordered = sorted(rows.all(), key=lambda r: (_SEVERITY.get(r.level, 9), r.created_at))
    return ordered[:limit]


async def next_alert_due(session: AsyncSession) -> datetime | None:
    result = await session.exec(
        select(sa.func.min(SymptomReport.next_alert_at)).where(
            SymptomReport.state == EscalationState.OPEN
        )
    )
    return result.one()
