"""Claim due reminders, decide, send, record. One pass: ``run_due``.

Decisions per reminder, in order: the patient must be active; the step's
send-time condition must still hold (e.g. redness not gone); a late reminder
follows its step's staleness policy. Everything else goes to the sender, and
its outcome is written back in a transaction of its own, so a crash loses
nothing and re-sends at most what was in flight.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules import store
from schedules.catalog import ProtocolCatalog
from schedules.clinics import clinic_names
from schedules.clock import Clock, sleep_on
from schedules.db import SessionFactory, connection_lost
from schedules.models import Patient, PatientStatus, Reminder, ReminderStatus, Treatment
from schedules.outbound import (
    Outbound,
    RateLimited,
    Rejected,
    Sender,
    SendOutcome,
    Sent,
    Transient,
    Unreachable,
)
from schedules.outdoors import outing_is_on
from schedules.planner import PatientState, decide_late, quiet_until, step_applies
from schedules.plans import preferences
from schedules.protocol import Anchor, ProtocolSpec
from schedules.retry import backoff

log = logging.getLogger(__name__)

# Waits (clock seconds) before the tries to record a send's outcome again after the
# database connection failed: the message is out, so its record is worth ~30 s of trying.
RECORD_RETRIES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


@dataclass(frozen=True)
class DueMessage:
    """Everything needed to word one reminder."""

    reminder_id: int
    step_id: str
    occurrence: int
    due_at: datetime
    patient: Patient
    spec: ProtocolSpec
    # The treatment's course and session number ("treatment 2 of 3"), for the words.
    course: str | None = None
    course_number: int = 1
    clinic_name: str | None = None  # the patient's clinic, for ``{clinic_name}``


Compose = Callable[[DueMessage], Outbound]


@dataclass
class DispatchReport:
    sent: int = 0
    skipped: int = 0
    cancelled: int = 0
    retried: int = 0
    failed: int = 0
    unreachable: int = 0
    lost_claims: int = 0
    deferred: int = 0
    maybe_sent: int = 0  # closed after a crash mid-send: the patient may have it

    def add(self, other: DispatchReport) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def handled(self) -> int:
        return sum(vars(self).values())


@dataclass(frozen=True)
class DispatchConfig:
    worker: str
    batch: int = 200
    lease: timedelta = timedelta(seconds=30)
    max_attempts: int = 6
    # Patients' runs going at once; most of them wait for their chat's gap, not the window.
    concurrency: int = 32
    # Sends on the wire or answered and not yet recorded, at most, at any moment: the most
    # messages one kill -9 can make us send twice (DESIGN promise 1), and what keeps 30/s
    # over a 150 ms round trip (30 x 0.15 = 4.5 in flight).
    window: int = 8
    # The clinic of patients who joined no clinic in particular (the operator's).
    default_clinic: str = ""


@dataclass
class _Batch:
    reminders: list[Reminder]
    protocol_of: dict[int, int]
    course_of: dict[int, tuple[str, int]] = field(default_factory=dict)
    clinic_name_of: dict[int, str] = field(default_factory=dict)  # by patient id
    newest_due: dict[tuple[int, str], int] = field(default_factory=dict)


class Dispatcher:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        sender: Sender,
        compose: Compose,
        catalog: ProtocolCatalog,
        config: DispatchConfig,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sender = sender
        self._compose = compose
        self._catalog = catalog
        self._config = config
        self._jitter = jitter
        self._stopping = False
        self._window = asyncio.Semaphore(config.window)

    def stop_claiming(self) -> None:
        """A graceful stop or a lost lead: finish the message in flight, claim and send
        nothing more (until ``resume_claiming``).

        Reminders of the current batch that were not started stay claimed; the daemon
        releases them (``store.release_claims``) before it exits, or the next leader does.
        """
        self._stopping = True

    def resume_claiming(self) -> None:
        """This process leads (again): claim and send."""
        self._stopping = False

    async def run_due(self) -> DispatchReport:
        """Send everything due now, batch after batch, until nothing is due."""
        total = DispatchReport()
        while not self._stopping:
            batch = await self._claim()
            if batch is None:
                return total
            total.add(await self._dispatch(batch))
        return total

    async def next_due_at(self) -> datetime | None:
        async with self._sessions() as session:
            return await store.next_due_at(session)

    async def _claim(self) -> _Batch | None:
        async with self._sessions() as session:
            reminders = await store.claim_due(
                session,
                now=self._clock.now(),
                worker=self._config.worker,
                lease=self._config.lease,
                limit=self._config.batch,
            )
            if not reminders:
                return None
            treatment_ids = {r.treatment_id for r in reminders}
            treatments = await session.exec(
                select(Treatment).where(col(Treatment.id).in_(treatment_ids))
            )
            found = [t for t in treatments.all() if t.id is not None]
            batch = _Batch(
                reminders,
                protocol_of={t.id: t.protocol_id for t in found if t.id is not None},
                course_of={t.id: (t.course, t.course_number) for t in found if t.id is not None},
                clinic_name_of=await clinic_names(
                    session, {r.patient_id for r in reminders}, self._config.default_clinic
                ),
            )
        for r in reminders:
            key = (r.treatment_id, r.step_id)
            # Snoozed copies have negative keys (schedules/snooze.py): no -1 floor here.
            batch.newest_due[key] = max(batch.newest_due.get(key, r.occurrence), r.occurrence)
        return batch

    async def _dispatch(self, batch: _Batch) -> DispatchReport:
        by_patient: dict[int, list[Reminder]] = defaultdict(list)
        for reminder in batch.reminders:
            by_patient[reminder.patient_id].append(reminder)
        limit = asyncio.Semaphore(self._config.concurrency)
        # Every run ends before the pass does, even when one fails: a run left going would
        # race the next pass (or a new leader) for rows it still holds.
        reports = await asyncio.gather(
            *(self._patient_run(batch, rows, limit) for rows in by_patient.values()),
            return_exceptions=True,
        )
        total = DispatchReport()
        for report in reports:
            if isinstance(report, BaseException):
                raise report
            total.add(report)
        return total

    async def _patient_run(
        self, batch: _Batch, rows: Sequence[Reminder], limit: asyncio.Semaphore
    ) -> DispatchReport:
        """One patient's due reminders, in order.

        The patient is read again before each message: a /stop or a "redness is gone"
        that arrived while this batch waited must win over the batch's old copy. In the
        same transaction the send is noted as started (``send_started_at``): a process
        killed from here on may have sent it, and one that lost its claim sends nothing.
        """
        report = DispatchReport()
        async with limit:
            for reminder in rows:
                if self._stopping:
                    break
                assert reminder.id is not None
                async with self._sessions() as session:
                    patient = await session.get(Patient, reminder.patient_id)
                    held = await store.mark_sending(
                        session, reminder.id, self._config.worker, self._clock.now()
                    )
                if not held:
                    outcome = "lost_claims"  # the lease ran out: another process has it
                elif patient is None:
                    outcome = await self._close(reminder, "cancelled", "patient deleted")
                else:
                    outcome = await self._handle(batch, patient, reminder)
                setattr(report, outcome, getattr(report, outcome) + 1)
                if outcome == "retried":  # the rest wait behind it, to keep the chat in order
                    await self._queue_behind(reminder)
                    break
        return report

    async def _queue_behind(self, reminder: Reminder) -> None:
        async with self._sessions() as session:
            retried = await session.get(Reminder, reminder.id)
            if retried is not None and retried.status == ReminderStatus.PENDING:
                await store.queue_behind(
                    session, reminder.patient_id, self._config.worker, retried.due_at
                )

    async def _handle(self, batch: _Batch, patient: Patient, reminder: Reminder) -> str:
        assert reminder.id is not None
        if patient.status != PatientStatus.ACTIVE:
            return await self._close(reminder, "cancelled", f"patient {patient.status}")
        spec = await self._catalog.spec(batch.protocol_of[reminder.treatment_id])
        step = spec.step(reminder.step_id)
        state = PatientState(
            redness_gone=patient.redness_gone_at is not None,
            skin_type=patient.skin_type,
            pigmentation_watch=patient.pigmentation_watch,
        )
        if not step_applies(step, state):
            return await self._close(reminder, "skipped", "condition no longer holds")
        newer = batch.newest_due[(reminder.treatment_id, reminder.step_id)] > reminder.occurrence
        now = self._clock.now()
        planned = store.planned_time(reminder)
        if decide_late(step, planned, now, newer_occurrence_due=newer) == "skip":
            return await self._close(reminder, "skipped", "stale")
        if step.anchor is Anchor.OUTDOORS and not outing_is_on(
            spec, patient.outdoors_since, patient.timezone, now
        ):  # "I'm inside" or the outing's end came first: never remind after it
            return await self._close(reminder, "skipped", "outing over")
        morning = quiet_until(now, preferences(patient)) if patient.timezone else None
        if morning is not None:
            return await self._defer(reminder, morning)
        course, course_number = batch.course_of.get(reminder.treatment_id, (None, 1))
        message = self._compose(
            DueMessage(
                reminder_id=reminder.id,
                step_id=reminder.step_id,
                occurrence=reminder.occurrence,
                due_at=planned,
                patient=patient,
                spec=spec,
                course=course,
                course_number=course_number,
                clinic_name=batch.clinic_name_of.get(reminder.patient_id),
            )
        )
        # Patients' runs wait for their chats side by side; at most ``window`` sends are
        # on the wire or unrecorded, so that a crash can catch at most that many messages.
        await self._sender.wait_ready(patient.chat_id)
        async with self._window:
            outcome = await self._sender.send(message)
            return await self._record_surely(reminder, patient, outcome)

    async def _record_surely(
        self, reminder: Reminder, patient: Patient, outcome: SendOutcome
    ) -> str:
        """Record ``outcome``, on a new connection if the database dropped ours: a message
        Telegram took and we failed to record would be sent again."""
        for wait in RECORD_RETRIES:
            try:
                return await self._record(reminder, patient, outcome)
            except Exception as error:
                if not connection_lost(error):
                    raise
                log.warning(
                    "recording a send failed (%s); retrying in %ss reminder_id=%s",
                    type(error).__name__,
                    wait,
                    reminder.id,
                )
            await sleep_on(self._clock, wait)
        return await self._record(reminder, patient, outcome)

    async def _record(self, reminder: Reminder, patient: Patient, outcome: SendOutcome) -> str:
        assert reminder.id is not None
        assert patient.id is not None
        worker, now = self._config.worker, self._clock.now()
        async with self._sessions() as session:
            match outcome:
                case Sent(message_id=message_id):
                    kept = await store.mark_sent(
                        session, reminder.id, worker, message_id=message_id, now=now
                    )
                    return "sent" if kept else "lost_claims"
                case RateLimited(retry_after=seconds):
                    await store.release_for_retry(
                        session,
                        reminder.id,
                        worker,
                        retry_at=now + timedelta(seconds=seconds),
                        reason="429",
                        count_attempt=False,
                        did_not_go=_never_started(reminder),
                    )
                    return "retried"
                case Unreachable(reason=reason):
                    await _mark_unreachable(session, patient.id, reason)
                    await store.mark_cancelled(session, reminder.id, worker, reason)
                    log.warning("patient unreachable patient_id=%s reason=%s", patient.id, reason)
                    return "unreachable"
                case Rejected(reason=reason):
                    await store.mark_failed(session, reminder.id, worker, reason)
                    log.error("reminder rejected reminder_id=%s reason=%s", reminder.id, reason)
                    return "failed"
                case Transient(reason=reason, maybe_sent=maybe_sent):
                    return await self._retry_or_fail(
                        session,
                        reminder,
                        reason,
                        did_not_go=not maybe_sent and _never_started(reminder),
                    )
        raise AssertionError(f"unknown outcome {outcome!r}")

    async def _retry_or_fail(
        self, session: AsyncSession, reminder: Reminder, reason: str, *, did_not_go: bool
    ) -> str:
        assert reminder.id is not None
        delay = backoff(
            reminder.attempts + 1, max_attempts=self._config.max_attempts, jitter=self._jitter()
        )
        if delay is None:
            await store.mark_failed(session, reminder.id, self._config.worker, reason)
            return "failed"
        await store.release_for_retry(
            session,
            reminder.id,
            self._config.worker,
            retry_at=self._clock.now() + delay,
            reason=reason,
            did_not_go=did_not_go,
        )
        return "retried"

    async def _defer(self, reminder: Reminder, until: datetime) -> str:
        """Late and inside quiet hours: back to pending until they end, no attempt counted."""
        assert reminder.id is not None
        async with self._sessions() as session:
            await store.release_for_retry(
                session,
                reminder.id,
                self._config.worker,
                retry_at=until,
                reason="quiet hours",
                count_attempt=False,
                did_not_go=_never_started(reminder),
            )
        return "deferred"

    async def _close(self, reminder: Reminder, outcome: str, reason: str) -> str:
        """Skip or cancel; "maybe sent" instead if a send of it was on its way when the
        process that claimed it before died (the patient may have it)."""
        assert reminder.id is not None
        worker = self._config.worker
        async with self._sessions() as session:
            if reminder.send_started_at is not None:
                reason = f"{reason}; a send was on its way when its process stopped"
                await store.mark_maybe_sent(session, reminder.id, worker, reason)
                return "maybe_sent"
            mark = store.mark_skipped if outcome == "skipped" else store.mark_cancelled
            await mark(session, reminder.id, worker, reason)
        return outcome


async def _mark_unreachable(session: AsyncSession, patient_id: int, reason: str) -> None:
    patient = await session.get(Patient, patient_id)
    if patient is not None:
        patient.status = PatientStatus.UNREACHABLE
        session.add(patient)
    await store.cancel_open_for_patient(session, patient_id, reason)
    await session.commit()


def _never_started(reminder: Reminder) -> bool:
    """No earlier process began sending ``reminder`` (as claimed): if this one did not send
    it either, the patient surely does not have it."""
    return reminder.send_started_at is None
