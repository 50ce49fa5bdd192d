"""A clinic publishes its own protocol version (or rolls back), and its patients move onto it.

- **A line per clinic.** A clinic's own protocol is the line ``<clinic slug>/<base slug>``
  (``glow/microneedling``), so the catalog stays keyed by slug; the first publish switches
  ``clinic.protocol_slug`` from the shared line to it. The file's own ``slug`` must be the
  base slug: a clinic follows one protocol.
- **Versions are immutable.** Every publish appends a version, unless it says exactly what
  the clinic's current version says (then nothing is written). A rollback republishes an
  old version's body as a new version, noted "Rollback to version N".
- **Moving the patients.** Every active treatment of the clinic's patients on its line (or
  on the shared base it started from) points at the new version, and the pending
  reminders of active patients are re-planned: sent rows are history and stay, pending
  rows of removed steps are cancelled, new steps are added, moved steps move. An
  occurrence the new version puts in the past is not sent late unless it was already
  waiting (a new "day 3" step does not reach a patient on day 10). Stopped or paused
  patients only get the new version; ``/resume`` plans it.
- **Batches.** Treatments are moved ``BATCH`` at a time, each batch in one transaction
  with its re-plan and its change-note deliveries, so a crash loses nothing: publishing
  the same file again finds the treatments still on an older version and finishes.
- **The change note** goes to the *affected* patients only: those whose upcoming
  reminders differ (a reminder added, moved or cancelled, or one still pending whose step
  changed). It is a ``Broadcast`` (segment ``{"kind": "protocol_update", "protocol_id":
  ...}``), a draft while batches add its deliveries, then ``sending``: the broadcaster
  delivers it like any other.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.catalog import add_version, latest_row, versions
from schedules.db import SessionFactory
from schedules.errors import AftercareError
from schedules.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    Clinic,
    DeliveryStatus,
    Patient,
    PatientStatus,
    Protocol,
    Reminder,
    ReminderStatus,
    Treatment,
)
from schedules.outdoors import plan_with_outing
from schedules.plans import still_worth_sending, treatment_preferences
from schedules.protocol import ProtocolSpec
from schedules.protocol_diff import changed_step_ids, describe_timing, diff, same_content
from schedules.store import PlanChange, PlanItem, apply_plan

BATCH = 200
DEFAULT_NOTE = "Your clinic updated your aftercare plan."
MAX_NOTE_CHARS = 4096  # one Telegram message
SEGMENT_KIND = "protocol_update"  # broadcast.segment["kind"] of a change note

Key = tuple[int, str, int]  # (treatment, step, occurrence)


class PublishError(AftercareError):
    """A publish or rollback that cannot go ahead; the message says why."""


def line_slug(clinic_slug: str, base: str) -> str:
    return f"{clinic_slug}/{base}"


def base_slug(slug: str) -> str:
    """``glow/microneedling`` → ``microneedling``; a shared slug is its own base."""
    return slug.rsplit("/", 1)[-1]


def own_line(clinic: Clinic) -> str:
    return line_slug(clinic.slug, base_slug(clinic.protocol_slug))


@dataclass(frozen=True)
class Proposal:
    """What publishing a spec to a clinic would do, shown before anyone confirms."""

    line: str  # the clinic's own line the version goes to
    current: Protocol | None  # the version the clinic's treatments follow now
    next_version: int
    changes: list[str]
    identical: bool  # says exactly what ``current`` says: publishing writes nothing


@dataclass
class Outcome:
    """What a publish did."""

    protocol: Protocol | None  # the clinic's version now (None: nothing published at all)
    published: bool  # a new version was written
    changes: list[str]
    moved: int = 0  # active treatments switched onto ``protocol``
    replanned: int = 0  # of which re-planned (active patients)
    added: int = 0
    rescheduled: int = 0
    cancelled: int = 0
    notified: int = 0  # change-note deliveries queued
    broadcast_id: int | None = None

    def count(self, change: PlanChange) -> None:
        self.replanned += 1
        self.added += change.added
        self.rescheduled += change.moved
        self.cancelled += change.cancelled


async def propose(session: AsyncSession, clinic: Clinic, spec: ProtocolSpec) -> Proposal:
    """Compare ``spec`` with what the clinic follows now; ``PublishError`` for another protocol."""
    base = base_slug(clinic.protocol_slug)
    if spec.slug != base:
        raise PublishError(
            f'clinic {clinic.slug} follows the "{base}" protocol, but this file is protocol'
            f' "{spec.slug}": set its slug to {base}'
        )
    line = own_line(clinic)
    current = await latest_row(session, clinic.protocol_slug)
    own = current if clinic.protocol_slug == line else await latest_row(session, line)
    next_version = own.version + 1 if own is not None else 1
    if current is None:
        changes = [f"+ step {step.id} ({describe_timing(step)})" for step in spec.steps]
        return Proposal(line, None, next_version, changes, identical=False)
    old = ProtocolSpec.model_validate(current.body)
    return Proposal(line, current, next_version, diff(old, spec), same_content(old, spec))


async def clinic_versions(session: AsyncSession, clinic: Clinic) -> list[Protocol]:
    """The clinic's own versions, oldest first (empty while it follows the shared one)."""
    return await versions(session, own_line(clinic))


async def version_spec(session: AsyncSession, clinic: Clinic, number: int) -> ProtocolSpec:
    """Version ``number`` of the clinic's own line, to roll back to."""
    rows = await clinic_versions(session, clinic)
    for row in rows:
        if row.version == number:
            return ProtocolSpec.model_validate(row.body)
    known = ", ".join(str(row.version) for row in rows) or "none yet"
    raise PublishError(f"clinic {clinic.slug} has no version {number} (its versions: {known})")


async def publish_for_clinic(
    sessions: SessionFactory,
    clinic: Clinic,
    spec: ProtocolSpec,
    *,
    change_note: str,
    created_by: str,
    now: datetime,
    patient_note: str | None = None,
    include_unassigned: bool = False,
) -> Outcome:
    """Publish ``spec`` as the clinic's next version, move its patients, queue the note.

    ``patient_note`` (default: ``change_note``) is what affected patients receive.
    ``include_unassigned``: patients without a clinic belong to this one (the operator's
    default clinic). A spec identical to the current version writes nothing, but still
    finishes moving treatments an interrupted publish left behind.
    """
    note = (patient_note or change_note).strip()
    if not note or len(note) > MAX_NOTE_CHARS:
        raise PublishError(f"the change note must be 1 to {MAX_NOTE_CHARS} characters")
    target, proposal, fresh = await _write_version(
        sessions, clinic, spec, change_note, created_by, now
    )
    outcome = Outcome(target, not proposal.identical, proposal.changes)
    if target is None or target.slug != proposal.line:
        return outcome  # identical to the shared version the clinic follows: nothing to do
    await move_treatments(
        sessions, fresh, target, note=note, now=now, outcome=outcome,
        include_unassigned=include_unassigned,
    )  # fmt: skip
    return outcome


async def rollback(
    sessions: SessionFactory,
    clinic: Clinic,
    to_version: int,
    *,
    created_by: str,
    now: datetime,
    note: str | None = None,
    default_note: str = DEFAULT_NOTE,
    include_unassigned: bool = False,
) -> Outcome:
    """Republish version ``to_version``'s body as a new version, and move patients onto it."""
    async with sessions() as session:
        spec = await version_spec(session, clinic, to_version)
    record = f"Rollback to version {to_version}" + (f": {note}" if note else "")
    return await publish_for_clinic(
        sessions, clinic, spec, change_note=record, created_by=created_by, now=now,
        patient_note=note or default_note, include_unassigned=include_unassigned,
    )  # fmt: skip


async def _write_version(
    sessions: SessionFactory,
    clinic: Clinic,
    spec: ProtocolSpec,
    change_note: str,
    created_by: str,
    now: datetime,
) -> tuple[Protocol | None, Proposal, Clinic]:
    """The version the clinic follows after this publish (written unless identical)."""
    async with sessions() as session:
        fresh = await session.get(Clinic, clinic.id)
        if fresh is None:
            raise PublishError(f"clinic {clinic.slug} does not exist")
        proposal = await propose(session, fresh, spec)
        if proposal.identical:
            return proposal.current, proposal, fresh
        row = await add_version(
            session, proposal.line, spec, change_note=change_note, created_by=created_by, now=now
        )
        fresh.protocol_slug = proposal.line
        session.add(fresh)
        try:
            await session.commit()
        except IntegrityError as error:
            raise PublishError(
                f"another version of {proposal.line} was published at the same moment;"
                " look at the versions and try again"
            ) from error
        return row, proposal, fresh


@dataclass
class _Run:
    """One publish's moving work: the target version and what it has learnt so far."""

    clinic: Clinic
    target: Protocol
    spec: ProtocolSpec
    note: str
    now: datetime
    include_unassigned: bool
    specs: dict[int, ProtocolSpec] = field(default_factory=dict)
    changed: dict[int, frozenset[str]] = field(default_factory=dict)


async def move_treatments(
    sessions: SessionFactory,
    clinic: Clinic,
    target: Protocol,
    *,
    note: str,
    now: datetime,
    outcome: Outcome,
    include_unassigned: bool = False,
) -> None:
    """Move the clinic's active treatments on older versions onto ``target``, in batches."""
    assert target.id is not None
    spec = ProtocolSpec.model_validate(target.body)
    run = _Run(clinic, target, spec, note, now, include_unassigned, specs={target.id: spec})
    after_id = 0
    while True:
        async with sessions() as session:
            batch = await _next_batch(session, run, after_id)
            if not batch:
                break
            await _move_batch(session, run, batch, outcome)
            await session.commit()
        after_id = batch[-1][0].id or after_id
    async with sessions() as session:
        outcome.broadcast_id, outcome.notified = await _release_note(session, run)
        await session.commit()


async def _next_batch(
    session: AsyncSession, run: _Run, after_id: int
) -> list[tuple[Treatment, Patient]]:
    """The next active treatments (by id) of the clinic's patients still on an older version."""
    target = run.target
    members = col(Patient.clinic_id) == run.clinic.id
    if run.include_unassigned:
        members = sa.or_(members, col(Patient.clinic_id).is_(None))
    older = sa.or_(col(Protocol.slug) != target.slug, col(Protocol.version) < target.version)
    rows = await session.exec(
        select(Treatment, Patient)
        .join(Patient, col(Patient.id) == col(Treatment.patient_id))
        .join(Protocol, col(Protocol.id) == col(Treatment.protocol_id))
        .where(
            col(Treatment.active),
            col(Treatment.id) > after_id,
            col(Protocol.slug).in_([target.slug, base_slug(target.slug)]),
            older,
            members,
        )
        .order_by(col(Treatment.id))
        .limit(BATCH)
    )
    return list(rows.all())


async def _move_batch(
    session: AsyncSession, run: _Run, batch: list[tuple[Treatment, Patient]], outcome: Outcome
) -> None:
    """Point a batch at the target, re-plan its active patients, queue the note for them."""
    waiting = await _pending_keys(session, [treatment.id or 0 for treatment, _ in batch])
    old_ids = {treatment.id: treatment.protocol_id for treatment, _ in batch}
    await _load_specs(session, run, set(old_ids.values()))
    await session.exec(
        sa.update(Treatment)
        .where(col(Treatment.id).in_(list(old_ids)))
        .values(protocol_id=run.target.id)
        .execution_options(synchronize_session=False)
    )
    outcome.moved += len(batch)
    waiting_steps: dict[int, set[str]] = {}
    for treatment_id, step_id, _ in waiting:
        waiting_steps.setdefault(treatment_id, set()).add(step_id)
    affected: set[int] = set()
    for treatment, patient in batch:
        if patient.status != PatientStatus.ACTIVE or patient.timezone is None:
            continue
        assert treatment.id is not None
        assert patient.id is not None
        change = await _replan(session, run, treatment, patient, waiting)
        outcome.count(change)
        changed_steps = run.changed[old_ids[treatment.id]]
        still_waiting = waiting_steps.get(treatment.id, set()) & changed_steps
        if change.added or change.moved or change.cancelled or still_waiting:
            affected.add(patient.id)
    await _queue_note(session, run, affected)


async def _pending_keys(session: AsyncSession, treatment_ids: list[int]) -> set[Key]:
    """The planned rows still waiting to go out, before the re-plan touches them."""
    rows = await session.exec(
        select(Reminder.treatment_id, Reminder.step_id, Reminder.occurrence).where(
            col(Reminder.treatment_id).in_(treatment_ids),
            col(Reminder.status) == ReminderStatus.PENDING,
            col(Reminder.snoozed_from).is_(None),
        )
    )
    return {(treatment_id, step_id, occurrence) for treatment_id, step_id, occurrence in rows}


async def _load_specs(session: AsyncSession, run: _Run, protocol_ids: Collection[int]) -> None:
    missing = [pid for pid in protocol_ids if pid not in run.specs]
    if missing:
        rows = await session.exec(select(Protocol).where(col(Protocol.id).in_(missing)))
        for row in rows:
            assert row.id is not None
            run.specs[row.id] = ProtocolSpec.model_validate(row.body)
    for pid in protocol_ids:
        if pid not in run.changed:
            run.changed[pid] = changed_step_ids(run.specs[pid], run.spec)


async def _replan(
    session: AsyncSession, run: _Run, treatment: Treatment, patient: Patient, waiting: set[Key]
) -> PlanChange:
    """The treatment's plan on the new version, without occurrences it puts in the past
    (unless they were already waiting to go out)."""
    assert treatment.id is not None
    assert patient.id is not None
    planned = plan_with_outing(
        run.spec,
        treatment.treated_at,
        treatment_preferences(patient, treatment),
        outdoors_since=patient.outdoors_since,
        now=run.now,
    )
    items = [
        PlanItem(item.step_id, item.occurrence, item.due_at)
        for item in still_worth_sending(run.spec, planned, run.now)
        if item.due_at > run.now or (treatment.id, item.step_id, item.occurrence) in waiting
    ]
    return await apply_plan(session, treatment_id=treatment.id, patient_id=patient.id, items=items)


async def _draft(session: AsyncSession, run: _Run) -> Broadcast | None:
    """This publish's change-note broadcast while batches are still adding recipients."""
    drafts = await session.exec(
        select(Broadcast).where(
            col(Broadcast.clinic_id) == run.clinic.id,
            col(Broadcast.status) == BroadcastStatus.DRAFT,
        )
    )
    return next((b for b in drafts if b.segment == _segment(run.target)), None)


def _segment(target: Protocol) -> dict[str, object]:
    """How a change note's broadcast says which version it announces."""
    return {
        "kind": SEGMENT_KIND,
        "protocol_id": target.id,
        "slug": target.slug,
        "version": target.version,
    }


async def _queue_note(session: AsyncSession, run: _Run, patient_ids: Iterable[int]) -> None:
    recipients = sorted(patient_ids)
    if not recipients:
        return
    broadcast = await _draft(session, run)
    if broadcast is None:
        assert run.clinic.id is not None
        broadcast = Broadcast(
            clinic_id=run.clinic.id,
            text=run.note,
            segment=_segment(run.target),
            status=BroadcastStatus.DRAFT,
            created_at=run.now,
        )
        session.add(broadcast)
        await session.flush()
    rows: list[dict[str, object]] = [
        {"broadcast_id": broadcast.id, "patient_id": pid, "status": DeliveryStatus.PENDING}
        for pid in recipients
    ]
    await _insert_deliveries(session, rows)


async def _insert_deliveries(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Insert deliveries; a patient already on the list stays there once."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    keys = ["broadcast_id", "patient_id"]
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        statement: sa.Insert
        if dialect == "postgresql":
            statement = (
                pg_insert(BroadcastDelivery)
                .values(chunk)
                .on_conflict_do_nothing(index_elements=keys)
            )
        elif dialect == "sqlite":
            statement = (
                sqlite_insert(BroadcastDelivery)
                .values(chunk)
                .on_conflict_do_nothing(index_elements=keys)
            )
        else:
            statement = sa.insert(BroadcastDelivery).values(chunk)
        await session.exec(statement)


async def _release_note(session: AsyncSession, run: _Run) -> tuple[int | None, int]:
    """Hand the finished draft to the broadcaster; its id and how many it goes to."""
    broadcast = await _draft(session, run)
    if broadcast is None:
        return None, 0
    broadcast.status = BroadcastStatus.SENDING
    broadcast.confirmed_at = run.now
    session.add(broadcast)
    count = await session.exec(
        select(sa.func.count()).where(col(BroadcastDelivery.broadcast_id) == broadcast.id)
    )
    return broadcast.id, int(count.one())
