"""Symptom reports as an alert outbox, on SQLite and Postgres: claimed once, re-alerted on
schedule, acknowledged by exactly one colleague."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from schedules import escalations
from schedules.clinics import ClinicConfig, ensure_clinic
from schedules.db import SessionFactory
from schedules.models import EscalationState, SymptomReport
from schedules.team import join_as_staff, staff_chats
from tests.integration.conftest import T0, Owner

LEASE = timedelta(seconds=60)


async def report(sessions: SessionFactory, owner: Owner, level: str, **extra: object) -> int:
    async with sessions() as session:
        row = SymptomReport(
            patient_id=owner.patient_id, level=level, text="", created_at=T0, **extra
        )  # type: ignore[arg-type]
        return await escalations.record_report(session, row, T0)


async def claim(sessions: SessionFactory, at: object = T0) -> list[int]:
    async with sessions() as session:
        rows = await escalations.claim_due_alerts(session, now=at, lease=LEASE)  # type: ignore[arg-type]
        return [r.id for r in rows if r.id is not None]


async def test_urgent_reports_are_due_at_once_and_routine_ones_never(
    sessions: SessionFactory, owner: Owner
) -> None:
    urgent = await report(sessions, owner, "urgent")
    await report(sessions, owner, "routine_followup")
    await report(sessions, owner, "expected")
    assert await claim(sessions) == [urgent]


async def test_a_claimed_alert_is_not_claimed_twice_until_its_lease_lapses(
    sessions: SessionFactory, owner: Owner
) -> None:
    urgent = await report(sessions, owner, "urgent")
    first, second = await asyncio.gather(claim(sessions), claim(sessions))
    assert sorted(first + second) == [urgent]
    assert await claim(sessions, T0 + LEASE + timedelta(seconds=1)) == [urgent]


async def test_after_an_alert_the_next_is_due_after_the_levels_interval(
    sessions: SessionFactory, owner: Owner
) -> None:
    emergency = await report(sessions, owner, "emergency")
    await claim(sessions)
    async with sessions() as session:
        await escalations.record_alerts(
            session, emergency, [(77, 1)], now=T0, alerted_level="emergency"
        )
        assert await escalations.next_alert_due(session) == T0 + timedelta(minutes=5)
        found = await escalations.report_for_alert(session, 77, 1)
    assert found is not None
    assert found.id == emergency
    assert await claim(sessions, T0 + timedelta(minutes=4)) == []
    assert await claim(sessions, T0 + timedelta(minutes=5)) == [emergency]


async def test_only_one_colleague_acknowledges_and_then_alerts_stop(
    sessions: SessionFactory, owner: Owner
) -> None:
    async with sessions() as session:
        clinic = await ensure_clinic(session, ClinicConfig("glow", "Glow", staff_code="c0de"), T0)
        for user in (5, 6):
            await join_as_staff(session, "c0de", user, T0)
    urgent = await report(sessions, owner, "urgent", clinic_id=clinic.id)
    async with sessions() as a, sessions() as b:
        results = await asyncio.gather(
            escalations.acknowledge(a, urgent, 1, T0), escalations.acknowledge(b, urgent, 2, T0)
        )
    assert sorted(results) == [False, True]
    assert await claim(sessions, T0 + timedelta(days=1)) == []
    async with sessions() as session:
        row = await session.get(SymptomReport, urgent)
        assert row is not None
        assert row.state == EscalationState.ACKNOWLEDGED
        assert await escalations.close(session, urgent, 1, T0)
        assert not await escalations.close(session, urgent, 1, T0)  # once


async def test_a_clarified_report_only_ever_rises(sessions: SessionFactory, owner: Owner) -> None:
    unsure = await report(sessions, owner, "routine_followup", clarifying=True)
    async with sessions() as session:
        settled = await escalations.settle_report(session, unsure, "urgent", ["answer:fever"], T0)
        assert settled is not None
        assert settled.level == "urgent"
        assert settled.next_alert_at == T0
        assert await escalations.settle_report(session, unsure, "expected", [], T0) is None


async def test_a_tick_that_raises_the_level_while_its_alert_is_out_is_alerted_at_once(
    sessions: SessionFactory, owner: Owner
) -> None:
    unsure = await report(sessions, owner, "routine_followup", clarifying=True)
    async with sessions() as session:
        await escalations.settle_report(session, unsure, "urgent", ["answer:fever"], T0, done=False)
    assert await claim(sessions) == [unsure]  # the urgent alert goes out...
    async with sessions() as session:  # ...and, meanwhile, a tick makes it an emergency
        raised = await escalations.settle_report(
            session, unsure, "emergency", ["answer:spreading"], T0, done=False
        )
        assert raised is not None
        assert raised.clarifying  # the list is still open
    async with sessions() as session:
        await escalations.record_alerts(session, unsure, [(77, 1)], now=T0, alerted_level="urgent")
        row = await session.get(SymptomReport, unsure)
        assert row is not None
        assert row.level == "emergency"
        assert row.alerts_sent == 1
        assert row.next_alert_at == T0  # not in 15 minutes: alerted again as an emergency
    assert await claim(sessions) == [unsure]


async def test_staff_join_with_the_clinics_code_and_the_first_is_owner(
    sessions: SessionFactory,
) -> None:
    async with sessions() as session:
        clinic = await ensure_clinic(session, ClinicConfig("glow", "Glow", staff_code="c0de"), T0)
        assert await join_as_staff(session, "wrong", 5, T0) is None
        assert await join_as_staff(session, "c0de", 5, T0) is not None
        assert await join_as_staff(session, "c0de", 6, T0) is not None
        assert await join_as_staff(session, "c0de", 6, T0) is not None  # again: harmless
        assert await staff_chats(session, clinic.id) == [5, 6]
