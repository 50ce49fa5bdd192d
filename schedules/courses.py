"""Treatment courses, pure: the next session's window, the minimum gap, "treatment 2 of 3".

A course (protocol data) says how many sessions it has (None: open-ended) and the
window for the next session in weeks after the previous one. Windows and gaps count
local calendar days in the patient's timezone, the way a patient and a clinic count
"two weeks later": a session on the 14th local day after the last one is two weeks
apart whatever the hour or a DST change in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from schedules.protocol import Course, CourseEdge, CourseStage, ProtocolSpec
from schedules.wallclock import require_aware, zone

DAYS_PER_WEEK = 7
PAYLOAD_PREFIX = "course-"
PAYLOAD_SEPARATOR = "_"


@dataclass(frozen=True)
class Progress:
    """Treatment ``number`` of a course of ``total`` sessions (None: open-ended)."""

    course_id: str
    number: int
    total: int | None

    @property
    def stage(self) -> CourseStage:
        return stage(self.total, self.number)

    @property
    def is_last(self) -> bool:
        return self.stage is CourseStage.COMPLETE


def stage(total: int | None, number: int) -> CourseStage:
    """``complete`` from the last session of a finite course on, else ``ongoing``."""
    if number < 1:
        raise ValueError(f"session numbers start at 1, got {number}")
    return CourseStage.COMPLETE if total is not None and number >= total else CourseStage.ONGOING


def progress(spec: ProtocolSpec, course_id: str | None, number: int) -> Progress | None:
    """Where a treatment stands in its course; None for a protocol without courses."""
    found = spec.course_for(course_id)
    if found is None:
        return None
    resolved, course = found
    return Progress(resolved, number, course.sessions)


def window_days(course: Course) -> tuple[int, int]:
    """The window for the next session as local days after the treatment's day."""
    low, high = course.interval_weeks
    return low * DAYS_PER_WEEK, high * DAYS_PER_WEEK


def edge_day(course: Course, edge: CourseEdge) -> int:
    """The local day after the treatment's day on which a ``course_window`` step falls."""
    start, end = window_days(course)
    return start if edge is CourseEdge.START else end


def next_window(treated_at: datetime, course: Course, timezone: str) -> tuple[date, date]:
    """The first and last local dates of the window for the session after ``treated_at``."""
    day = require_aware(treated_at, "treated_at").astimezone(zone(timezone)).date()
    start, end = window_days(course)
    return day + timedelta(days=start), day + timedelta(days=end)


def days_apart(earlier: datetime, later: datetime, timezone: str) -> int:
    """Local calendar days from ``earlier`` to ``later`` (negative if it is before)."""
    tz = zone(timezone)
    first = require_aware(earlier, "earlier").astimezone(tz).date()
    second = require_aware(later, "later").astimezone(tz).date()
    return (second - first).days


def too_soon(previous: datetime, new: datetime, course: Course, timezone: str) -> bool:
    """Whether a new session on ``new`` comes before the course's minimum gap after
    ``previous`` (the window's first day is already fine)."""
    return days_apart(previous, new, timezone) < window_days(course)[0]


def course_from_payload(payload: str | None) -> str | None:
    """The course a deep link names: ``/start course-collagen``, also as one part of a
    longer payload such as ``clinic-abc_course-collagen``; None if it names none."""
    for part in (payload or "").split(PAYLOAD_SEPARATOR):
        if part.startswith(PAYLOAD_PREFIX) and len(part) > len(PAYLOAD_PREFIX):
            return part.removeprefix(PAYLOAD_PREFIX)
    return None


def initial_course(spec: ProtocolSpec, payload: str | None) -> str | None:
    """The course of a patient's first treatment: the one their link names if the
    protocol has it, else the protocol's default (None without courses)."""
    named = course_from_payload(payload)
    if named is not None and spec.courses and named in spec.courses:
        return named
    return spec.default_course_id


def course_name(spec: ProtocolSpec, course_id: str | None, locale: str) -> str:
    """The course's name in ``locale`` (or the protocol's base locale); the id without one."""
    found = spec.course_for(course_id)
    if found is None:
        return course_id or ""
    _, course = found
    chosen = spec.resolve_locale(locale)
    return course.name.get(chosen) or course.name.get(spec.base_locale) or found[0]
