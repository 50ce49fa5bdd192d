"""Rows for the bench, written fast: patients and treatments with one executemany each,
reminders with ``executemany`` on SQLite and ``COPY`` on Postgres.

Patients are active, in UTC, with no quiet hours, so that whatever the hour of the run,
the dispatcher sends what is due instead of deferring it to the morning.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schedules.models import Patient, PatientStatus, ReminderStatus, Treatment

STEP = "moisturise-morning"  # an advice with Done and snooze buttons, sent whatever the state
_REMINDER_COLUMNS = (
    "treatment_id",
    "patient_id",
    "step_id",
    "occurrence",
    "due_at",
    "status",
    "attempts",
)


@dataclass(frozen=True)
class Enrolled:
    """Patients and their treatments, index for index; chats are ``first_chat`` onwards."""

    patient_ids: list[int]
    treatment_ids: list[int]


async def enrol(
    engine: AsyncEngine,
    *,
    first_chat: int,
    count: int,
    protocol_id: int,
    now: datetime,
    clinic_id: int | None = None,
) -> Enrolled:
    """``count`` active patients, each with one treatment (yesterday), no reminders yet."""
    patients = [_patient(first_chat + i, now, clinic_id) for i in range(count)]
    async with engine.begin() as connection:
        patient_ids = await _insert(connection, Patient, patients)
        treatments = [
            Treatment(
                patient_id=pid, protocol_id=protocol_id, treated_at=now - timedelta(days=1),
                created_at=now,
            ).model_dump(exclude={"id"})
            for pid in patient_ids
        ]  # fmt: skip
        treatment_ids = await _insert(connection, Treatment, treatments)
    return Enrolled(patient_ids, treatment_ids)


def _patient(chat_id: int, now: datetime, clinic_id: int | None) -> dict[str, object]:
    return Patient(
        chat_id=chat_id, clinic_id=clinic_id, timezone="UTC", quiet_start="00:00",
        quiet_end="00:00", status=PatientStatus.ACTIVE, consent_at=now, created_at=now,
    ).model_dump(exclude={"id"})  # fmt: skip


async def _insert(
    connection: AsyncConnection, table: type, rows: list[dict[str, object]]
) -> list[int]:
    if not rows:
        return []
    statement = sa.insert(table).returning(table.id, sort_by_parameter_order=True)  # type: ignore[attr-defined]
    result = await connection.execute(statement, rows)
    return [row[0] for row in result]


def reminder_rows(
    enrolled: Enrolled, due: Sequence[datetime], *, first_occurrence: int = 0
) -> Iterable[tuple[object, ...]]:
    """One pending reminder per due time, dealt round-robin over the treatments."""
    n = len(enrolled.treatment_ids)
    for i, due_at in enumerate(due):
        k = i % n
        yield (
            enrolled.treatment_ids[k], enrolled.patient_ids[k], STEP,
            first_occurrence + i // n, _naive_utc(due_at), ReminderStatus.PENDING.value, 0,
        )  # fmt: skip


def _naive_utc(moment: datetime) -> datetime:
    offset = moment.utcoffset()
    assert offset is not None, "aware datetimes only"
    return (moment - offset).replace(tzinfo=None)


async def bulk_reminders(url: str, rows: Iterable[tuple[object, ...]]) -> int:
    """Insert reminder rows outside the ORM: the fastest way each database offers."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return await _copy_postgres(url, list(rows))
    assert parsed.database is not None
    return await asyncio.to_thread(_executemany_sqlite, parsed.database, rows)


async def _copy_postgres(url: str, rows: list[tuple[object, ...]]) -> int:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.copy_records_to_table(
            "reminder", records=rows, columns=list(_REMINDER_COLUMNS)
        )
        await connection.execute("ANALYZE reminder")  # what autovacuum does shortly after
    finally:
        await connection.close()
    return len(rows)


def _executemany_sqlite(path: str, rows: Iterable[tuple[object, ...]]) -> int:
    stamped = (
        (*row[:4], row[4].strftime("%Y-%m-%d %H:%M:%S.%f"), *row[5:])  # type: ignore[attr-defined]
        for row in rows
    )  # SQLAlchemy's own storage format for DateTime on SQLite
    placeholders = ", ".join("?" for _ in _REMINDER_COLUMNS)
    connection = sqlite3.connect(path, timeout=30)
    try:
        with connection:
            cursor = connection.executemany(
                f"INSERT INTO reminder ({', '.join(_REMINDER_COLUMNS)}) VALUES ({placeholders})",
                stamped,
            )
        return cursor.rowcount
    finally:
        connection.close()
