"""The clinic's contraindication flag, queried on real SQLite and Postgres."""

from __future__ import annotations

from schedules.db import SessionFactory
from schedules.models import Patient
from schedules.profile import patients_with_contraindications
from tests.integration.conftest import T0


async def test_only_patients_with_a_contraindication_are_flagged(sessions: SessionFactory) -> None:
    async with sessions() as session:
        session.add_all(
            [
                Patient(chat_id=1, created_at=T0, contraindications=["rosacea"]),
                Patient(chat_id=2, created_at=T0, contraindications=[]),
                Patient(chat_id=3, created_at=T0),
                Patient(chat_id=4, created_at=T0, contraindications=["eczema", "scars-easily"]),
            ]
        )
        await session.commit()
    async with sessions() as session:
        flagged = await patients_with_contraindications(session)
    assert [(p.chat_id, p.contraindications) for p in flagged] == [
        (1, ["rosacea"]),
        (4, ["eczema", "scars-easily"]),
    ]
