"""A world with one configured clinic and its staff code: what symptom and alert tests share."""

from __future__ import annotations

import struct
import zlib

from sqlmodel import select

from schedules.models import SymptomReport
from tests.e2e.harness import Person, World

CODE = "let-me-in-42"
CLINIC = {
    "clinic_name": "Glow Clinic",
    "clinic_phone": "+44 20 7946 0000",
    "clinic_emergency_number": "999",
    "staff_code": CODE,
}
NURSE = 9001
ALERT_MARKS = ("🚨", "⚠️", "📝")


async def staff_joins(world: World, user_id: int = NURSE) -> Person:
    nurse = world.person(user_id)
    await nurse.says(f"/staff {CODE}", expect="You're now staff at Glow Clinic")
    return nurse


async def enrolled(world: World, user_id: int = 1001) -> Person:
    pat = world.person(user_id)
    await pat.enrols()
    await world.settle()
    return pat


async def reports(world: World) -> list[SymptomReport]:
    """Every report, once the handlers are done (they answer first and record after)."""
    await world.handlers_idle()
    async with world.daemon.sessions() as session:
        return list((await session.exec(select(SymptomReport))).all())


def alerts(nurse: Person) -> list[str]:
    """The staff alerts in a staff member's chat, oldest first."""
    return [text for text in nurse.bot_texts() if text.startswith(ALERT_MARKS)]


def small_png(width: int = 64, height: int = 48) -> bytes:
    """A real PNG picture (a flat skin tone), as a patient's photo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes((224, 172, 150)) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(row * height)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
