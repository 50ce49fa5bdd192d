"""Integration tests run on real databases: every test here runs on SQLite and on Postgres."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schedules.db import SessionFactory, session_factory
from schedules.models import Patient, PatientStatus, Protocol, Treatment
from tests.dbs import db_backend, db_engine, db_url, postgres_engine, postgres_template

__all__ = ["db_backend", "db_engine", "db_url", "postgres_engine", "postgres_template"]

# Friday 27 March 2026, 09:00 UTC: the tests' "now" unless they move it.
T0 = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Owner:
    """A patient with one treatment: what a reminder row belongs to."""

    patient_id: int
    treatment_id: int


async def add_owner(sessions: SessionFactory, chat_id: int) -> Owner:
    """Insert a patient, a protocol version and a treatment; return their ids."""
    async with sessions() as session:
        patient = Patient(
            chat_id=chat_id, timezone="Europe/London", status=PatientStatus.ACTIVE, created_at=T0
        )
        protocol = Protocol(
            slug=f"test-{chat_id}", version=1, checksum=str(chat_id), body={}, created_at=T0
        )
        session.add_all([patient, protocol])
        await session.flush()
        assert patient.id is not None
        assert protocol.id is not None
        treatment = Treatment(
            patient_id=patient.id, protocol_id=protocol.id, treated_at=T0, created_at=T0
        )
        session.add(treatment)
        await session.commit()
        assert treatment.id is not None
        return Owner(patient_id=patient.id, treatment_id=treatment.id)


@pytest.fixture
def sessions(db_engine: AsyncEngine) -> SessionFactory:
    return session_factory(db_engine)


@pytest.fixture
async def owner(sessions: SessionFactory) -> Owner:
    return await add_owner(sessions, chat_id=1001)
