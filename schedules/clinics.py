"""Clinics and their staff: who a patient belongs to, and who hears about escalations.

The operator's own clinic comes from ``AFTERCARE_CLINIC_*`` (staff join it with
``/staff <code>``); more clinics are created with ``aftercare clinic create``. Patients
join a clinic through its link ``t.me/<bot>?start=c-<patient_code>`` (optionally
``_course-<id>``); staff join through single-use, expiring invites ``?start=i-<code>``.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.courses import PAYLOAD_PREFIX as COURSE_PREFIX
from schedules.courses import PAYLOAD_SEPARATOR
from schedules.errors import AftercareError
from schedules.models import Clinic, Invite, Patient, Staff
from schedules.plans import active_treatment
from schedules.zones import is_valid_timezone

INVITE_TTL = timedelta(days=7)
CLINIC_PREFIX = "c-"
INVITE_PREFIX = "i-"
MAX_PAYLOAD = 64  # Telegram's limit for a ?start= parameter
_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_DERIVED_SLUG = 48


class ClinicError(AftercareError):
    """A clinic cannot be created or found as asked; the message says why."""


@dataclass(frozen=True)
class ClinicConfig:
    slug: str
    name: str
    timezone: str = "UTC"
    phone: str | None = None
    emergency_number: str | None = None
    staff_code: str | None = None
    protocol_slug: str = "microneedling"  # for a new clinic; a clinic's own line is kept


def new_staff_code() -> str:
    return secrets.token_urlsafe(9)


def new_patient_code() -> str:
    return secrets.token_hex(8)


async def ensure_clinic(session: AsyncSession, config: ClinicConfig, now: datetime) -> Clinic:
    """The configured clinic, created on first start and updated from the config after.

    A configured staff code wins; with none configured, the first start makes one.
    """
    clinic = await clinic_by_slug(session, config.slug)
    if clinic is None:
        clinic = Clinic(
            slug=config.slug, name=config.name, protocol_slug=config.protocol_slug, created_at=now
        )
    clinic.name, clinic.timezone = config.name, config.timezone
    clinic.phone, clinic.emergency_number = config.phone, config.emergency_number
    clinic.staff_code = config.staff_code or clinic.staff_code or new_staff_code()
    clinic.patient_code = clinic.patient_code or new_patient_code()
    session.add(clinic)
    await session.commit()
    await session.refresh(clinic)
    return clinic


# -- clinics ----------------------------------------------------------------------------------


async def create_clinic(
    session: AsyncSession,
    *,
    name: str,
    timezone: str,
    phone: str | None,
    emergency_number: str | None,
    slug: str | None = None,
    now: datetime,
) -> Clinic:
    """A new clinic with its own patient code; ``slug`` defaults to one made from the name.

    Raises ClinicError for an empty name, an unknown timezone or a malformed or taken slug.
    """
    name = name.strip()
    if not name:
        raise ClinicError("a clinic needs a name")
    if not is_valid_timezone(timezone):
        raise ClinicError(f'unknown timezone "{timezone}"; use an IANA name such as Europe/Madrid')
    if slug is None:
        slug = await _free_slug(session, slug_from_name(name))
    elif not _SLUG.match(slug):
        raise ClinicError(f'slug "{slug}" must be lowercase letters, digits and dashes')
    elif await clinic_by_slug(session, slug) is not None:
        raise ClinicError(f'a clinic with slug "{slug}" already exists')
    clinic = Clinic(
        slug=slug,
        name=name,
        timezone=timezone,
        phone=phone or None,
        emergency_number=emergency_number or None,
        patient_code=new_patient_code(),
        created_at=now,
    )
    session.add(clinic)
    await session.commit()
    await session.refresh(clinic)
    return clinic


def slug_from_name(name: str) -> str:
    """ "Glow Clínic Madrid" → "glow-clinic-madrid"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:MAX_DERIVED_SLUG].strip("-") or "clinic"


async def _free_slug(session: AsyncSession, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever no clinic has yet."""
    taken = set(
        (
            await session.exec(
                select(Clinic.slug).where(
                    sa.or_(col(Clinic.slug) == base, col(Clinic.slug).startswith(f"{base}-"))
                )
            )
        ).all()
    )
    number, slug = 1, base
    while slug in taken:
        number += 1
        slug = f"{base}-{number}"
    return slug


async def clinic_by_slug(session: AsyncSession, slug: str) -> Clinic | None:
    return (await session.exec(select(Clinic).where(col(Clinic.slug) == slug))).first()


async def clinic_by_patient_code(session: AsyncSession, code: str) -> Clinic | None:
    """The active clinic whose patient link carries ``code``."""
    if not code:
        return None
    return (
        await session.exec(
            select(Clinic).where(col(Clinic.patient_code) == code, col(Clinic.active))
        )
    ).first()


async def clinic_names(
    session: AsyncSession, patient_ids: set[int], default_slug: str
) -> dict[int, str]:
    """Each patient's clinic's name; patients of no clinic have the default clinic's."""
    rows = (
        await session.exec(
            select(Patient.id, Clinic.name)
            .outerjoin(Clinic, col(Clinic.id) == col(Patient.clinic_id))
            .where(col(Patient.id).in_(patient_ids))
        )
    ).all()
    fallback = None
    if any(name is None for _, name in rows):
        default = await clinic_by_slug(session, default_slug)
        fallback = default.name if default is not None else None
    names = {patient_id: name or fallback for patient_id, name in rows if patient_id is not None}
    return {patient_id: name for patient_id, name in names.items() if name is not None}


async def clinic_of(session: AsyncSession, patient: Patient, default_slug: str) -> Clinic | None:
    if patient.clinic_id is not None:
        return await session.get(Clinic, patient.clinic_id)
    return await clinic_by_slug(session, default_slug)


@dataclass(frozen=True)
class ClinicListing:
    clinic: Clinic
    patients: int
    staff: int


async def list_clinics(
    session: AsyncSession, default_slug: str | None = None
) -> list[ClinicListing]:
    """Every clinic by slug, with its patients and active staff counted.

    Patients enrolled at no clinic count for ``default_slug`` (the operator's clinic).
    """
    clinics = (await session.exec(select(Clinic).order_by(col(Clinic.slug)))).all()
    patients = await _counts(session, select(Patient.clinic_id, func.count()))
    members = select(Staff.clinic_id, func.count()).where(col(Staff.active))
    staff = await _counts(session, members)
    unassigned = patients.get(None, 0)
    return [
        ClinicListing(
            clinic,
            patients.get(clinic.id, 0) + (unassigned if clinic.slug == default_slug else 0),
            staff.get(clinic.id, 0),
        )
        for clinic in clinics
    ]


async def _counts(session: AsyncSession, query: Any) -> dict[int | None, int]:
    """Rows of (clinic id, count) grouped by the clinic id, as a dict."""
    rows = await session.exec(query.group_by(query.selected_columns[0]))
    return {clinic_id: int(count) for clinic_id, count in rows.all()}


# -- patients ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """Where a patient stands after opening a clinic link.

    ``clinic``: the clinic they belong to now (None: the link named no clinic we know).
    ``refused``: the clinic they asked to move to, if their current treatment keeps them
    with ``clinic``.
    """

    clinic: Clinic | None
    refused: Clinic | None = None


async def enrol_patient(session: AsyncSession, patient: Patient, code: str) -> Enrolment:
    """Put the patient with the clinic whose patient code this is.

    A patient at another clinic moves only while they have no treatment registered: an
    ongoing treatment stays with the clinic that planned it. A patient at no clinic yet
    (the operator's, by default) is placed by the first link they open, even mid-treatment.
    """
    assert patient.id is not None
    wanted = await clinic_by_patient_code(session, code)
    if wanted is None:
        return Enrolment(None)
    current = patient.clinic_id
    if current not in (None, wanted.id) and await active_treatment(session, patient.id):
        assert current is not None
        return Enrolment(await session.get(Clinic, current), refused=wanted)
    if current != wanted.id:
        patient.clinic_id = wanted.id
        session.add(patient)
        await session.commit()
    return Enrolment(wanted)


# -- links ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartLink:
    """What a ``/start`` payload asks for: a clinic's patient link, a staff invite, or neither."""

    kind: Literal["clinic", "invite", "none"]
    code: str = ""


def read_start_payload(payload: str | None) -> StartLink:
    text = payload or ""
    if text.startswith(INVITE_PREFIX) and len(text) > len(INVITE_PREFIX):
        return StartLink("invite", text.removeprefix(INVITE_PREFIX))
    first = text.split(PAYLOAD_SEPARATOR)[0]
    if first.startswith(CLINIC_PREFIX) and len(first) > len(CLINIC_PREFIX):
        return StartLink("clinic", first.removeprefix(CLINIC_PREFIX))
    return StartLink("none")


def patient_link(bot_username: str, clinic: Clinic, course: str | None = None) -> str:
    """The link (and QR code) a clinic gives its patients, optionally naming a course."""
    if not clinic.patient_code:
        raise ClinicError(f'clinic "{clinic.slug}" has no patient code')
    payload = CLINIC_PREFIX + clinic.patient_code
    if course:
        payload += PAYLOAD_SEPARATOR + COURSE_PREFIX + course
    return start_link(bot_username, payload)


def invite_link(bot_username: str, invite: Invite) -> str:
    return start_link(bot_username, INVITE_PREFIX + invite.code)


def start_link(bot_username: str, payload: str) -> str:
    """``https://t.me/<bot>?start=<payload>``; Telegram takes up to 64 of [A-Za-z0-9_-]."""
    if not _PAYLOAD.match(payload):
        raise ValueError(f"a start payload is 1-{MAX_PAYLOAD} of A-Z a-z 0-9 _ -")
    return f"https://t.me/{bot_username.lstrip('@')}?start={payload}"
