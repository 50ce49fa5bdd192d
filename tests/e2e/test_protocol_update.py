"""Protocol updates end to end: an owner publishes from the chat, and the CLI re-plans
1 000 active treatments on a real database."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.model import TranscriptEntry
from schedules.catalog import ProtocolCatalog
from schedules.clock import SystemClock
from schedules.db import create_schema, make_engine, session_factory
from schedules.models import (
    Broadcast,
    BroadcastDelivery,
    Clinic,
    Patient,
    PatientStatus,
    Protocol,
    Reminder,
    ReminderStatus,
    Staff,
    StaffRole,
    Treatment,
)
from schedules.planner import plan
from schedules.plans import preferences
from schedules.protocol import bundled_protocol, load_protocol
from tests.dbs import db_backend, db_url, postgres_template
from tests.e2e.harness import Person, World

__all__ = ["db_backend", "db_url", "postgres_template"]  # the database fixtures

V2_FILE = Path(__file__).parents[1] / "data" / "protocols" / "updates" / "glow_v2.yaml"
BAD_FILE = Path(__file__).parents[1] / "data" / "protocols" / "bad_time.yaml"
FILES = {path: path.read_bytes() for path in (V2_FILE, BAD_FILE)}
OWNER = 7
NURSE = 8
NEW_STEP = "red-flag-check-day-3"


# -- the bot: an owner sends the file ---------------------------------------------------------


async def sends_file(
    person: Person,
    path: Path,
    expect: str,
    caption: str | None = None,
    content: bytes | None = None,
) -> TranscriptEntry:
    """The person sends ``path`` (or ``content`` under its name) as a document; the bot's
    first answer containing ``expect``."""
    sandbox = person.sandbox
    before = len(sandbox.bot_messages(person.user_id))
    data = FILES[path] if content is None else content
    sandbox.user_sends_document(person.user_id, path.name, data, "application/x-yaml", caption)

    def answer() -> TranscriptEntry | None:
        found = [
            e for e in sandbox.bot_messages(person.user_id)[before:] if expect in (e.text or "")
        ]
        return found[0] if found else None

    await sandbox.wait_for(
        lambda: answer() is not None, timeout=15, what=f"a reply with {expect!r}"
    )
    entry = answer()
    assert entry is not None
    return entry


async def add_staff(world: World, user_id: int, role: StaffRole) -> None:
    clinic = world.daemon.clinic
    assert clinic is not None
    assert clinic.id is not None
    async with world.daemon.sessions() as session:
        session.add(
            Staff(clinic_id=clinic.id, user_id=user_id, role=role, created_at=world.clock.now())
        )
        await session.commit()


async def test_an_owner_publishes_a_protocol_file_and_patients_get_the_note(world: World) -> None:
    patient = world.person(1001)
    await patient.enrols()  # treated yesterday at 14:00: day 3 is still to come
    await add_staff(world, OWNER, StaffRole.OWNER)
    owner = world.person(OWNER)

    shown = await sends_file(owner, V2_FILE, expect="Changes from microneedling version 1")
    assert f"+ step {NEW_STEP} (day 3 10:30)" in (shown.text or "")
    assert "~ step makeup-allowed: after 24h → 48h" in (shown.text or "")
    await owner.presses("Publish version 1", expect="What should the patients")
    done = await owner.says("Makeup now waits 48 hours.", expect="Published version 1")
    assert "1 active treatments now follow it" in (done.text or "")
    assert "1 patients will get your note" in (done.text or "")

    treatment = await _treatment_of(world, 1001)
    async with world.daemon.sessions() as session:
        protocol = await session.get(Protocol, treatment.protocol_id)
    assert protocol is not None
    assert (protocol.slug, protocol.version) == ("clinic/microneedling", 1)
    pending = {r.step_id for r in await world.reminders(1001, ReminderStatus.PENDING)}
    assert NEW_STEP in pending
    assert "vitamin-c" not in pending
    await world.settle()
    assert "Makeup now waits 48 hours." in patient.bot_texts()

    versions = await owner.says("/versions", expect="Versions of clinic/microneedling")
    assert "v1 ✓" in (versions.text or "")


async def test_an_owner_sees_the_problems_of_a_bad_file_and_nothing_is_published(
    world: World,
) -> None:
    await add_staff(world, OWNER, StaffRole.OWNER)

    shown = await sends_file(world.person(OWNER), BAD_FILE, expect="has problems")

    assert 'step "makeup-24h"' in (shown.text or "")
    assert 'field "at"' in (shown.text or "")
    async with world.daemon.sessions() as session:
        slugs = (await session.exec(select(Protocol.slug))).all()
    assert slugs == ["microneedling"]


async def test_staff_who_are_not_owners_and_patients_are_refused(world: World) -> None:
    patient = world.person(1001)
    await patient.enrols()
    await add_staff(world, NURSE, StaffRole.STAFF)

    for person in (world.person(NURSE), patient):
        await sends_file(person, V2_FILE, expect="Only a clinic's owner")
        await person.says("/rollback 1", expect="Only a clinic's owner")
    async with world.daemon.sessions() as session:
        slugs = (await session.exec(select(Protocol.slug))).all()
    assert slugs == ["microneedling"]


async def test_a_caption_is_the_note_and_a_rollback_publishes_an_old_version_again(
    world: World,
) -> None:
    patient = world.person(1001)
    await patient.enrols()
    await add_staff(world, OWNER, StaffRole.OWNER)
    owner = world.person(OWNER)
    await sends_file(owner, V2_FILE, expect="Note to the patients", caption="New advice.")
    await owner.presses("Publish version 1", expect="Published version 1")
    await sends_file(owner, V2_FILE, expect="Nothing to publish")
    v3 = FILES[V2_FILE].replace(b"scratch or scrub it", b"scratch, scrub or peel it")
    shown = await sends_file(owner, V2_FILE, expect="Changes from", content=v3)
    assert "~ step peeling text (en) changed" in (shown.text or "")
    await owner.presses("Publish version 2", expect="What should the patients")
    await owner.presses("Use the default note", expect="Published version 2")

    shown = await owner.says("/rollback 1", expect="Going back to version 1 changes this")
    assert "~ step peeling text (en) changed" in (shown.text or "")
    await owner.presses("Publish version 3", expect="What should the patients")
    await owner.presses("Use the default note", expect="Published version 3")

    versions = await owner.says("/versions", expect="Versions of clinic/microneedling")
    assert "Rollback to version 1" in (versions.text or "")
    assert "New advice." in await _after_settle(world, patient)
    assert "Your clinic updated your aftercare plan." in patient.bot_texts()


async def test_an_upload_the_bot_forgot_asks_for_the_file_again(world: World) -> None:
    await add_staff(world, OWNER, StaffRole.OWNER)
    owner = world.person(OWNER)
    await sends_file(owner, V2_FILE, expect="Changes from")
    world.clock.advance(timedelta(minutes=31))

    await owner.presses("Publish version 1", expect="send the file again")


async def _treatment_of(world: World, chat_id: int) -> Treatment:
    patient = await world.patient(chat_id)
    async with world.daemon.sessions() as session:
        return (
            await session.exec(
                select(Treatment).where(Treatment.patient_id == patient.id, col(Treatment.active))
            )
        ).one()


async def _after_settle(world: World, person: Person) -> list[str]:
    await world.settle()
    return person.bot_texts()


# -- the CLI: 1 000 active treatments --------------------------------------------------------

PATIENTS = 1000


async def _clinic_with_patients(url: str, now: datetime) -> None:
    """A clinic "glow" with 1 000 active patients on the shared protocol, treated over the
    last ten days, their plans in the outbox and everything due before now sent."""
    engine = make_engine(url)
    await create_schema(engine)
    sessions = session_factory(engine)
    shared = await ProtocolCatalog(sessions, SystemClock()).publish(bundled_protocol())
    spec = bundled_protocol()
    async with sessions() as session:
        glow = Clinic(slug="glow", name="Glow", created_at=now)
        other = Clinic(slug="other", name="Other", created_at=now)
        session.add_all([glow, other])
        await session.flush()
        patients = [
            Patient(
                clinic_id=glow.id if n else other.id,  # one patient of another clinic
                chat_id=100_000 + n,
                timezone=("Europe/London", "America/New_York", "Asia/Tokyo")[n % 3],
                status=PatientStatus.ACTIVE,
                created_at=now,
            )
            for n in range(PATIENTS + 1)
        ]
        session.add_all(patients)
        await session.flush()
        treatments = [
            Treatment(
                patient_id=p.id or 0,
                protocol_id=shared.id or 0,
                treated_at=now - timedelta(minutes=17 * n % (10 * 24 * 60)),
                created_at=now,
            )
            for n, p in enumerate(patients)
        ]
        session.add_all(treatments)
        await session.flush()
        rows = [
            {
                "treatment_id": t.id,
                "patient_id": p.id,
                "step_id": item.step_id,
                "occurrence": item.occurrence,
                "due_at": item.due_at,
                "status": ReminderStatus.SENT if item.due_at <= now else ReminderStatus.PENDING,
                "sent_at": item.due_at if item.due_at <= now else None,
                "attempts": 1 if item.due_at <= now else 0,
            }
            for p, t in zip(patients, treatments, strict=True)
            for item in plan(spec, t.treated_at, preferences(p))
        ]
        # One executemany: a multi-VALUES statement of this size takes seconds to compile.
        await (await session.connection()).execute(sa.insert(Reminder), rows)
        await session.commit()
    await engine.dispose()


async def _sent(url: str) -> dict[int, datetime | None]:
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.exec(
                select(Reminder.id, Reminder.sent_at).where(Reminder.status == ReminderStatus.SENT)
            )
            return {reminder_id: sent_at for reminder_id, sent_at in rows}
    finally:
        await engine.dispose()


async def test_publishing_re_plans_a_thousand_active_treatments(db_url: str) -> None:
    """On SQLite and on Postgres: the `aftercare protocol publish` command, as run."""
    url = db_url
    now = datetime.now(UTC)
    await _clinic_with_patients(url, now)
    sent_before = await _sent(url)

    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "protocol", "publish", str(V2_FILE), "--clinic", "glow",
        "--note", "Makeup now waits 48 hours.", "--yes", "--database-url", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    seconds = time.perf_counter() - started
    finished = datetime.now(UTC)
    stdout = out.decode()

    assert process.returncode == 0, err.decode()
    assert f"{PATIENTS} active treatments moved to it, {PATIENTS} re-planned" in stdout
    print(f"\n{stdout.strip()}\n(the whole command: {seconds:.1f} s)")  # noqa: T201
    assert await _sent(url) == sent_before  # nothing sent again, nothing sent forgotten
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            await _check_the_move(session, now, finished)
    finally:
        await engine.dispose()


async def _check_the_move(session: AsyncSession, before: datetime, after: datetime) -> None:
    """Every glow treatment is on the new version, with the new day-3 check-in planned
    exactly where it is still ahead; the other clinic's patient is untouched."""
    new = (await session.exec(select(Protocol).where(Protocol.slug == "glow/microneedling"))).one()
    spec = load_protocol(V2_FILE)
    moved = await session.exec(
        select(Treatment, Patient)
        .join(Patient, col(Patient.id) == col(Treatment.patient_id))
        .where(col(Treatment.protocol_id) == new.id)
    )
    pending = set(
        (
            await session.exec(
                select(Reminder.treatment_id).where(
                    Reminder.step_id == NEW_STEP, Reminder.status == ReminderStatus.PENDING
                )
            )
        ).all()
    )
    count = 0
    for treatment, patient in moved:
        count += 1
        due = [
            item.due_at
            for item in plan(spec, treatment.treated_at, preferences(patient))
            if item.step_id == NEW_STEP
        ]
        if due[0] > after:
            assert treatment.id in pending  # still ahead: planned
        elif due[0] <= before:
            assert treatment.id not in pending  # already past: never sent late
    assert count == PATIENTS
    other = await session.exec(
        select(Treatment.protocol_id)
        .join(Patient, col(Patient.id) == col(Treatment.patient_id))
        .join(Clinic, col(Clinic.id) == col(Patient.clinic_id))
        .where(Clinic.slug == "other")
    )
    assert other.one() != new.id
    notes = (await session.exec(select(Broadcast))).all()
    assert [note.text for note in notes] == ["Makeup now waits 48 hours."]
    deliveries = await session.exec(select(sa.func.count()).select_from(BroadcastDelivery))
    assert 0 < deliveries.one() <= PATIENTS
