"""Who a broadcast goes to: segments as typed and stored, and the patients they select.

=========================  =========================================  ====================
text                       JSON                                       recipients
=========================  =========================================  ====================
``all``                    ``{"kind": "all"}``                        every active patient
``recent:<days>``          ``{"kind": "recent", "days": 7}``          treated in the last N days
``protocol:<slug>``        ``{"kind": "protocol", "slug": "..."}``    current treatment on it
``course:<id>[:<n>]``      ``{"kind": "course", "course": "collagen",  current treatment in that
                           "session": 2}``                            course (and session n)
=========================  =========================================  ====================

Recipients are always the broadcast clinic's patients whose status is ``active`` when the
broadcast is confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from schedules.errors import AftercareError
from schedules.models import (
    DeliveryStatus,
    Patient,
    PatientStatus,
    Protocol,
    Treatment,
)

#  # Telegram's limit for a message
CAPTION_LIMIT = 1024  # ... and for a photo's caption
MAX_RECENT_DAYS = 3650
_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)
# broadcast.segment["kind"] of the segments here (None: not chosen yet).
_COMPOSED = (None, "all", "recent", "protocol", "course")


MAX_RECENT_DAYS = 3650


class SegmentError(AftercareError):
    """A segment that cannot be parsed or is out of range."""


# -- segments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Everyone:
    def as_text(self) -> str:
        return "all"


@dataclass(frozen=True)
class Recent:
    days: int

    def as_text(self) -> str:
        return f"recent:{self.days}"


@dataclass(frozen=True)
class OnProtocol:
    slug: str

    def as_text(self) -> str:
        return f"protocol:{self.slug}"


@dataclass(frozen=True)
class InCourse:
    course: str
    session: int | None = None

    def as_text(self) -> str:
        return f"course:{self.course}" + (f":{self.session}" if self.session else "")


Segment = Everyone | Recent | OnProtocol | InCourse


def parse_segment(text: str) -> Segment:
    """``all``, ``recent:<days>``, ``protocol:<slug>``, ``course:<id>[:<session>]``."""
    kind, _, rest = text.strip().partition(":")
    kind = kind.lower()
    if kind == "all" and not rest:
        return Everyone()
    if kind == "recent":
        return Recent(_positive(rest, "recent:<days>", maximum=MAX_RECENT_DAYS))
    if kind == "protocol" and _is_name(rest):
        return OnProtocol(rest)
    if kind == "course":
        course, _, session = rest.partition(":")
        if _is_name(course):
            return InCourse(
                course, _positive(session, "course:<id>:<session>") if session else None
            )
    raise SegmentError(
        f"unknown segment {text!r}; use all, recent:<days>, protocol:<slug> "
        "or course:<course>[:<session>]"
    )


def segment_json(segment: Segment) -> dict[str, Any]:
    match segment:
        case Everyone():
            return {"kind": "all"}
        case Recent(days=days):
            return {"kind": "recent", "days": days}
        case OnProtocol(slug=slug):
            return {"kind": "protocol", "slug": slug}
        case InCourse(course=course, session=session):
            return {"kind": "course", "course": course, "session": session}
    raise AssertionError(segment)


def segment_from_json(data: dict[str, Any]) -> Segment:
    """The stored form back; an unknown or damaged one is a SegmentError."""
    kind = data.get("kind")
    try:
        if kind == "all":
            return Everyone()
        if kind == "recent":
            return parse_segment(f"recent:{int(data['days'])}")
        if kind == "protocol":
            return parse_segment(f"protocol:{data['slug']}")
        if kind == "course":
            session = data.get("session")
            return parse_segment(f"course:{data['course']}" + (f":{session}" if session else ""))
    except (KeyError, TypeError, ValueError) as error:
        raise SegmentError(f"damaged segment {data!r}") from error
    raise SegmentError(f"damaged segment {data!r}")


def _positive(text: str, shape: str, maximum: int = 10_000) -> int:
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise SegmentError(f"{shape} needs a whole number from 1 to {maximum}, not {text!r}")
    return int(text)


def _is_name(text: str) -> bool:
    return bool(text) and len(text) <= 64 and all(c.isalnum() or c in "-_." for c in text)


# -- who receives it --------------------------------------------------------------------------


def recipients(
    clinic_id: int, segment: Segment, now: datetime, *, include_unassigned: bool = False
) -> SelectOfScalar[int | None]:
    """The ids of the patients a segment reaches now, in id order.

    Only the clinic's active patients; ``include_unassigned`` adds patients with no clinic,
    who belong to the operator's default clinic (from before enrolment links).
    """
    mine = col(Patient.clinic_id) == clinic_id
    if include_unassigned:
        mine = sa.or_(mine, col(Patient.clinic_id).is_(None))
    query = select(col(Patient.id)).where(mine, col(Patient.status) == PatientStatus.ACTIVE)
    treated = (
        select(sa.literal(1))
        .select_from(Treatment)
        .where(col(Treatment.patient_id) == col(Patient.id))
    )
    match segment:
        case Everyone():
            pass
        case Recent(days=days):
            query = query.where(
                treated.where(col(Treatment.treated_at) >= now - timedelta(days=days)).exists()
            )
        case OnProtocol(slug=slug):
            on_it = treated.join(Protocol, col(Protocol.id) == col(Treatment.protocol_id)).where(
                col(Treatment.active), col(Protocol.slug) == slug
            )
            query = query.where(on_it.exists())
        case InCourse(course=course, session=session):
            in_it = treated.where(col(Treatment.active), col(Treatment.course) == course)
            if session is not None:
                in_it = in_it.where(col(Treatment.course_number) == session)
            query = query.where(in_it.exists())
    return query.order_by(col(Patient.id))


async def count_recipients(
    session: AsyncSession,
    clinic_id: int,
    segment: Segment,
    now: datetime,
    *,
    include_unassigned: bool = False,
) -> int:
    query = recipients(clinic_id, segment, now, include_unassigned=include_unassigned)
    counted = await session.exec(select(sa.func.count()).select_from(query.subquery()))
    return int(counted.one())


async def segment_choices(
    session: AsyncSession, clinic_id: int, *, include_unassigned: bool = False
) -> tuple[list[str], list[tuple[str, int]]]:
    """The protocols and (course, session) pairs the clinic's active patients are on now."""
    mine = col(Patient.clinic_id) == clinic_id
    if include_unassigned:
        mine = sa.or_(mine, col(Patient.clinic_id).is_(None))
    current = (
        select(col(Protocol.slug), col(Treatment.course), col(Treatment.course_number))
        .select_from(Patient)
        .join(Treatment, col(Treatment.patient_id) == col(Patient.id))
        .join(Protocol, col(Protocol.id) == col(Treatment.protocol_id))
        .where(mine, col(Patient.status) == PatientStatus.ACTIVE, col(Treatment.active))
        .distinct()
    )
    rows = (await session.exec(current)).all()
    slugs = sorted({slug for slug, _course, _number in rows})
    courses = sorted({(course, number) for _slug, course, number in rows})
    return slugs, courses
