"""A clinic publishes its own protocol version: versions, rollback, re-planning, change notes.

Every test runs on SQLite and on Postgres. "Now" is T0 (Friday 27 March 2026, 09:00 UTC);
patients are treated some hours before it, and what was due before now counts as sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from schedules.catalog import ProtocolCatalog, add_version
from schedules.clock import FixedClock
from schedules.db import SessionFactory
from schedules.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    Clinic,
    Patient,
    PatientStatus,
    Protocol,
    Reminder,
    ReminderStatus,
    Treatment,
)
from schedules.plans import replan_patient, set_treatment
from schedules.protocol import ProtocolSpec, bundled_protocol, load_protocol
from schedules.protocol_updates import (
    Outcome,
    PublishError,
    clinic_versions,
    publish_for_clinic,
    rollback,
)
from tests.integration.conftest import T0

V2_FILE = Path(__file__).parents[1] / "data" / "protocols" / "updates" / "glow_v2.yaml"


@dataclass
class Clinics:
    sessions: SessionFactory
    catalog: ProtocolCatalog
    shared: Protocol
    glow: Clinic
    other: Clinic
    chat_ids: list[int]

    async def patient(
        self,
        clinic: Clinic | None,
        hours_ago: float,
        status: PatientStatus = PatientStatus.ACTIVE,
    ) -> int:
        """A patient treated ``hours_ago`` on the shared protocol, planned; past rows sent."""
        chat_id = 5000 + len(self.chat_ids)
        self.chat_ids.append(chat_id)
        async with self.sessions() as session:
            patient = Patient(
                clinic_id=clinic.id if clinic else None,
                chat_id=chat_id,
                timezone="Europe/London",
                status=PatientStatus.ACTIVE,
                created_at=T0,
            )
            session.add(patient)
            await session.flush()
            assert self.shared.id is not None
            treated = T0 - timedelta(hours=hours_ago)
            await set_treatment(session, patient, treated, self.shared.id, T0)
            await replan_patient(session, patient, self.catalog, now=T0)
            assert patient.id is not None
            await session.exec(
                sa.update(Reminder)
                .where(col(Reminder.patient_id) == patient.id, col(Reminder.due_at) <= T0)
                .values(status=ReminderStatus.SENT, sent_at=T0)
            )
            patient.status = status
            session.add(patient)
            await session.commit()
            return patient.id

    async def rows(self, patient_id: int) -> dict[tuple[str, int], Reminder]:
        async with self.sessions() as session:
            found = await session.exec(select(Reminder).where(Reminder.patient_id == patient_id))
            return {(row.step_id, row.occurrence): row for row in found}

    async def treatment(self, patient_id: int) -> Treatment:
        async with self.sessions() as session:
            return (
                await session.exec(select(Treatment).where(Treatment.patient_id == patient_id))
            ).one()

    async def protocol(self, protocol_id: int) -> Protocol:
        async with self.sessions() as session:
            found = await session.get(Protocol, protocol_id)
            assert found is not None
            return found

    async def protocol_row(self, version: int) -> Protocol:
        async with self.sessions() as session:
            return (
                await session.exec(
                    select(Protocol).where(
                        Protocol.slug == "glow/microneedling", Protocol.version == version
                    )
                )
            ).one()

    async def publish(self, spec: ProtocolSpec, note: str = "New aftercare advice") -> Outcome:
        return await publish_for_clinic(
            self.sessions, self.glow, spec, change_note=note, created_by="test", now=T0
        )

    async def versions(self) -> list[int]:
        async with self.sessions() as session:
            glow = await session.get(Clinic, self.glow.id)
            assert glow is not None
            return [row.version for row in await clinic_versions(session, glow)]

    async def deliveries(self) -> dict[int, list[int]]:
        """Broadcast id → the patients it goes to."""
        async with self.sessions() as session:
            rows = await session.exec(select(BroadcastDelivery))
            found: dict[int, list[int]] = {}
            for row in rows:
                found.setdefault(row.broadcast_id, []).append(row.patient_id)
            return {key: sorted(value) for key, value in found.items()}


@pytest.fixture
async def clinics(sessions: SessionFactory) -> Clinics:
    catalog = ProtocolCatalog(sessions, FixedClock(T0))
    shared = await catalog.publish(bundled_protocol())
    async with sessions() as session:
        glow = Clinic(slug="glow", name="Glow", created_at=T0)
        other = Clinic(slug="other", name="Other", created_at=T0)
        session.add_all([glow, other])
        await session.commit()
    return Clinics(sessions, catalog, shared, glow, other, [])


def v2() -> ProtocolSpec:
    """Makeup from 48 h, a day-3 red-flag check, no vitamin C, reworded peeling advice."""
    return load_protocol(V2_FILE)


def v3() -> ProtocolSpec:
    """v2 with the breakouts advice reworded."""
    data = v2().model_dump(mode="json")
    step = next(step for step in data["steps"] if step["id"] == "breakouts")
    step["text"]["en"] = "Small white bumps can appear; they pass on their own. Don't squeeze."
    return ProtocolSpec.model_validate(data)


async def test_the_first_publish_starts_the_clinics_own_line_at_version_1(
    clinics: Clinics,
) -> None:
    first = await clinics.publish(v2())
    second = await clinics.publish(v3())

    assert first.published
    assert first.protocol is not None
    assert (first.protocol.slug, first.protocol.version) == ("glow/microneedling", 1)
    assert first.protocol.change_note == "New aftercare advice"
    assert first.protocol.created_by == "test"
    assert "+ step red-flag-check-day-3 (day 3 10:30)" in first.changes
    assert second.protocol is not None
    assert second.protocol.version == 2
    assert ProtocolSpec.model_validate(second.protocol.body).version == 2
    assert second.changes == ["~ step breakouts text (en) changed"]
    assert await clinics.versions() == [1, 2]
    async with clinics.sessions() as session:
        glow = await session.get(Clinic, clinics.glow.id)
        other = await session.get(Clinic, clinics.other.id)
    assert glow is not None
    assert other is not None
    assert glow.protocol_slug == "glow/microneedling"
    assert other.protocol_slug == "microneedling"


async def test_publishing_what_the_clinic_already_follows_writes_nothing(
    clinics: Clinics,
) -> None:
    patient = await clinics.patient(clinics.glow, hours_ago=2)
    shared_again = await clinics.publish(bundled_protocol())
    await clinics.publish(v2())
    before = await clinics.rows(patient)

    again = await clinics.publish(v2(), note="Same again")

    assert not shared_again.published
    assert shared_again.moved == 0
    assert not again.published
    assert again.changes == []
    assert (again.moved, again.notified) == (0, 0)
    assert await clinics.versions() == [1]
    assert {key: row.status for key, row in (await clinics.rows(patient)).items()} == {
        key: row.status for key, row in before.items()
    }
    async with clinics.sessions() as session:
        notes = (await session.exec(select(Broadcast))).all()
    assert [note.text for note in notes] == ["New aftercare advice"]


async def test_a_rollback_is_a_new_version_with_the_old_body(clinics: Clinics) -> None:
    patient = await clinics.patient(clinics.glow, hours_ago=2)
    await clinics.publish(v2())
    await clinics.publish(v3())

    outcome = await rollback(clinics.sessions, clinics.glow, 1, created_by="test", now=T0)

    assert outcome.published
    assert outcome.protocol is not None
    assert outcome.protocol.version == 3
    assert outcome.protocol.change_note == "Rollback to version 1"
    assert outcome.changes == ["~ step breakouts text (en) changed"]
    assert await clinics.versions() == [1, 2, 3]
    first = ProtocolSpec.model_validate((await clinics.protocol_row(1)).body)
    third = ProtocolSpec.model_validate(outcome.protocol.body)
    assert third.model_copy(update={"version": 1}) == first
    assert (await clinics.treatment(patient)).protocol_id == outcome.protocol.id


async def test_a_rollback_to_a_version_that_does_not_exist_names_the_versions(
    clinics: Clinics,
) -> None:
    await clinics.publish(v2())

    with pytest.raises(PublishError, match=r"no version 7 \(its versions: 1\)"):
        await rollback(clinics.sessions, clinics.glow, 7, created_by="test", now=T0)


async def test_a_file_for_another_protocol_is_refused(clinics: Clinics) -> None:
    data = v2().model_dump(mode="json") | {"slug": "peel"}

    with pytest.raises(PublishError, match='follows the "microneedling" protocol'):
        await clinics.publish(ProtocolSpec.model_validate(data))
    assert await clinics.versions() == []


async def test_replanning_keeps_sent_rows_cancels_removed_steps_and_adds_new_ones(
    clinics: Clinics,
) -> None:
    # Treated 30 hours ago: makeup (24 h) was sent, vitamin C (day 4) and the new
    # day-3 check are still to come.
    patient = await clinics.patient(clinics.glow, hours_ago=30)
    before = await clinics.rows(patient)

    outcome = await clinics.publish(v2())

    after = await clinics.rows(patient)
    assert outcome.moved == outcome.replanned == 1
    sent_before = {key: row.sent_at for key, row in before.items() if row.status == "sent"}
    assert sent_before
    assert {key: after[key].sent_at for key in sent_before} == sent_before
    assert all(after[key].status == ReminderStatus.SENT for key in sent_before)
    assert [row.status for key, row in after.items() if key[0] == "vitamin-c"] == [
        ReminderStatus.CANCELLED
    ]
    assert [row.status for key, row in after.items() if key[0] == "red-flag-check-day-3"] == [
        ReminderStatus.PENDING
    ]
    assert [row.status for key, row in after.items() if key[0] == "makeup-allowed"] == [
        ReminderStatus.SENT  # 48 h is the same step: already sent, never sent again
    ]
    assert outcome.protocol is not None
    assert (await clinics.treatment(patient)).protocol_id == outcome.protocol.id


async def test_a_pending_step_moves_to_its_new_time(clinics: Clinics) -> None:
    patient = await clinics.patient(clinics.glow, hours_ago=2)
    makeup = next(
        row for key, row in (await clinics.rows(patient)).items() if key[0] == "makeup-allowed"
    )

    outcome = await clinics.publish(v2())

    moved = (await clinics.rows(patient))[(makeup.step_id, makeup.occurrence)]
    assert moved.status == ReminderStatus.PENDING
    treated = T0 - timedelta(hours=2)  # 07:00 GMT: 24 h later was quiet, deferred to 08:00
    assert makeup.due_at == T0 + timedelta(hours=23)
    assert moved.due_at == treated + timedelta(hours=48)  # 08:00 BST, after the clocks change
    assert outcome.rescheduled >= 1


async def test_a_new_step_already_in_the_past_is_not_sent_late(clinics: Clinics) -> None:
    patient = await clinics.patient(clinics.glow, hours_ago=24 * 6)

    await clinics.publish(v2())

    assert not [key for key in await clinics.rows(patient) if key[0] == "red-flag-check-day-3"]


async def test_other_clinics_and_stopped_patients_are_left_as_they_are(
    clinics: Clinics,
) -> None:
    other = await clinics.patient(clinics.other, hours_ago=2)
    stopped = await clinics.patient(clinics.glow, hours_ago=2, status=PatientStatus.STOPPED)
    other_before = await clinics.rows(other)
    stopped_before = await clinics.rows(stopped)

    outcome = await clinics.publish(v2())

    assert (outcome.moved, outcome.replanned) == (1, 0)
    assert (await clinics.treatment(other)).protocol_id == clinics.shared.id
    assert await clinics.rows(other) == other_before
    # A stopped patient follows the new version once they /resume, not before.
    assert outcome.protocol is not None
    assert (await clinics.treatment(stopped)).protocol_id == outcome.protocol.id
    assert {k: r.status for k, r in (await clinics.rows(stopped)).items()} == {
        k: r.status for k, r in stopped_before.items()
    }


async def test_the_change_note_goes_to_the_affected_patients_only(clinics: Clinics) -> None:
    upcoming = await clinics.patient(clinics.glow, hours_ago=2)
    await clinics.patient(clinics.glow, hours_ago=24 * 60)  # everything sent: nothing changes
    await clinics.patient(clinics.glow, hours_ago=2, status=PatientStatus.STOPPED)
    await clinics.patient(clinics.other, hours_ago=2)

    outcome = await clinics.publish(v2(), note="We changed when makeup is fine again.")

    assert outcome.moved == 3
    assert outcome.notified == 1
    assert await clinics.deliveries() == {outcome.broadcast_id: [upcoming]}
    async with clinics.sessions() as session:
        note = await session.get(Broadcast, outcome.broadcast_id)
    assert note is not None
    assert note.clinic_id == clinics.glow.id
    assert note.text == "We changed when makeup is fine again."
    assert note.status == BroadcastStatus.SENDING
    assert note.confirmed_at == T0
    assert outcome.protocol is not None
    assert note.segment == {
        "kind": "protocol_update",
        "protocol_id": outcome.protocol.id,
        "slug": "glow/microneedling",
        "version": 1,
    }


async def test_a_text_change_alone_reaches_patients_still_waiting_for_that_step(
    clinics: Clinics,
) -> None:
    # Treated two days ago: the breakouts advice (day 2, 12:00) goes out at noon today.
    waiting = await clinics.patient(clinics.glow, hours_ago=24 * 2)
    await clinics.patient(clinics.glow, hours_ago=24 * 3)  # its breakouts advice went out
    await clinics.publish(v2())

    outcome = await clinics.publish(v3())  # only the breakouts text changed

    assert (outcome.moved, outcome.added, outcome.rescheduled, outcome.cancelled) == (2, 0, 0, 0)
    assert outcome.notified == 1
    assert outcome.broadcast_id is not None
    assert (await clinics.deliveries())[outcome.broadcast_id] == [waiting]


async def test_patients_without_a_clinic_follow_the_default_clinic_when_asked(
    clinics: Clinics,
) -> None:
    unassigned = await clinics.patient(None, hours_ago=2)

    outcome = await publish_for_clinic(
        clinics.sessions, clinics.glow, v2(), change_note="New", created_by="test", now=T0,
        include_unassigned=True,
    )  # fmt: skip

    assert outcome.protocol is not None
    assert (await clinics.treatment(unassigned)).protocol_id == outcome.protocol.id
    assert outcome.notified == 1


async def test_an_interrupted_publish_is_finished_by_publishing_again(clinics: Clinics) -> None:
    patients = [await clinics.patient(clinics.glow, hours_ago=2) for _ in range(3)]
    # As if the process died right after writing the version: nobody moved yet.
    async with clinics.sessions() as session:
        glow = await session.get(Clinic, clinics.glow.id)
        assert glow is not None
        row = await add_version(
            session, "glow/microneedling", v2(), change_note="New", created_by="t", now=T0
        )
        glow.protocol_slug = "glow/microneedling"
        session.add(glow)
        await session.commit()

    outcome = await clinics.publish(v2())

    assert not outcome.published
    assert outcome.moved == 3
    assert outcome.notified == 3
    assert [(await clinics.treatment(p)).protocol_id for p in patients] == [row.id] * 3
    assert await clinics.versions() == [1]


async def test_deliveries_are_queued_once_per_patient_across_batches(
    clinics: Clinics, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schedules.protocol_updates.BATCH", 2)
    patients = [await clinics.patient(clinics.glow, hours_ago=2) for _ in range(5)]

    outcome = await clinics.publish(v2())

    assert outcome.moved == 5
    assert await clinics.deliveries() == {outcome.broadcast_id: sorted(patients)}
    async with clinics.sessions() as session:
        statuses = (await session.exec(select(Broadcast.status))).all()
    assert statuses == [BroadcastStatus.SENDING]
