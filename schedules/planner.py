"""The pure planner: (protocol, treatment time, patient preferences) -> reminders.

No I/O and no clock: the same inputs always give the same plan, so planning
twice, or re-planning after a change, is safe.

Time rules (see also :mod:`schedules.wallclock`):

* ``after: 24h`` is exact elapsed time from the anchor (24 real hours, even across DST).
* ``day: N`` / ``days: [A, B]`` with ``at: HH:MM`` is the local wall-clock time on
  local calendar day N after the anchor's local date (day 0 is the anchor's day):
  09:00 stays 09:00 across DST. Occurrences before the anchor are not planned.
* A wall time in a spring-forward gap becomes the transition instant (first valid
  instant after the gap); in a fall-back fold, the first occurrence.
* ``course_window: start|end`` with ``at`` is a day step on the first or last local day
  of the window for the next session of the treatment's course (collagen: days 14 and
  28; standard: 28 and 42); ``condition: {course: ongoing|complete}`` plans a step only
  while another session is due, or only after the course's last session.
* ``every: 2h`` counts from the anchor and stops after ``until_local`` on the anchor's
  local day (or after ``max_occurrences``).
* Quiet hours ``[quiet_start, quiet_end)`` in local time may wrap midnight; equal
  ends mean none. A due time inside them is deferred to their end, advanced to
  half an hour before they start, or skipped, as the step says. An advance that
  would be before the anchor, or still quiet, falls back to deferring.

Occurrence numbers are stable keys: ``day * 100 + index of the time`` for day
and course-window steps, the interval count (1, 2, ...) for ``every`` steps, 0 for ``after`` steps.
Steps anchored to an outdoors event add ``100 * minutes from treatment to event``,
so each outing gets its own keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from schedules.conditions import (
    PatientState,
    decide_late,
    pigmentation_matches,
    skin_type_matches,
    step_applies,
)
from schedules.courses import edge_day, stage
from schedules.errors import InputError
from schedules.protocol import (
    AfterTiming,
    Anchor,
    CourseEdge,
    CourseStage,
    CourseWindowTiming,
    DailyTiming,
    IntervalTiming,
    ProtocolSpec,
    QuietRule,
    Step,
    Timing,
)
from schedules.wallclock import local_time, require_aware, wall_to_utc, zone

__all__ = [
    "PatientState",
    "PlannedReminder",
    "Preferences",
    "QuietHours",
    "decide_late",
    "local_time",
    "place_outside_quiet",
    "plan",
    "quiet_until",
    "step_applies",
]

ADVANCE_LEAD = timedelta(minutes=30)
KEYS_PER_DAY = 100
KEYS_PER_OUTING_MINUTE = 100
_PLACEMENT_TRIES = 3
_EVENT_NAMES = frozenset(a.value for a in Anchor if a is not Anchor.TREATMENT)


@dataclass(frozen=True)
class Preferences:
    """The patient's choices that shape a plan, and the treatment's place in its course."""

    timezone: str
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    skin_type: str | None = None
    # Darker skin or a history of melasma: steps with ``pigmentation: true`` are planned.
    pigmentation_watch: bool = False
    # The treatment's course (None or unknown: the protocol's default) and which
    # session of it this is (1 = the first).
    course: str | None = None
    session: int = 1

    def __post_init__(self) -> None:
        if self.quiet_start.tzinfo is not None or self.quiet_end.tzinfo is not None:
            raise ValueError("quiet hours are local wall-clock times, without a timezone")
        if self.session < 1:
            raise ValueError(f"session numbers start at 1, got {self.session}")


@dataclass(frozen=True)
class PlannedReminder:
    """One message to send: which step, which occurrence of it, when (aware UTC)."""

    step_id: str
    occurrence: int
    due_at: datetime


@dataclass(frozen=True)
class QuietHours:
    """Local quiet hours ``[start, end)``; may wrap midnight; ``start == end`` is none."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def end_after(self, wall: datetime) -> datetime:
        """Naive local end of the quiet period that contains ``wall``."""
        day = wall.date()
        if self.start > self.end and wall.time() >= self.start:
            day += timedelta(days=1)
        return datetime.combine(day, self.end)

    def start_before(self, wall: datetime) -> datetime:
        """Naive local start of the quiet period that contains ``wall``."""
        day = wall.date()
        if self.start > self.end and wall.time() < self.end:
            day -= timedelta(days=1)
        return datetime.combine(day, self.start)


def plan(
    protocol: ProtocolSpec,
    treated_at: datetime,
    prefs: Preferences,
    *,
    events: Mapping[str, datetime] | None = None,
) -> list[PlannedReminder]:
    """Every reminder of ``protocol`` for one treatment, sorted by (due_at, step order).

    ``prefs.course`` and ``prefs.session`` say which course the treatment belongs to and
    which session of it this is: they place ``course_window`` steps and select
    ``condition: {course: ...}`` steps.

    ``events`` maps anchor names other than the treatment (``outdoors``) to when
    they happened; steps with an absent anchor, or one before the treatment, are
    not planned. Naive datetimes raise ``ValueError``; an unknown timezone or event
    name raises ``InputError``.
    """
    treated = require_aware(treated_at, "treated_at")
    tz = zone(prefs.timezone)
    anchors = _anchors(treated, events or {})
    quiet = QuietHours(prefs.quiet_start, prefs.quiet_end)
    course_days = _CourseDays.of(protocol, prefs.course, prefs.session)
    rows: list[tuple[datetime, int, int, str]] = []
    for order, step in enumerate(protocol.steps):
        anchor = anchors.get(step.anchor)
        timing = course_days.timing(step)
        if anchor is None or timing is None or not _wanted(step, prefs):
            continue
        for occurrence, due in _placed(step, timing, anchor, treated, tz, quiet):
            rows.append((due, order, occurrence, step.id))
    rows.sort()
    return [PlannedReminder(step_id, occurrence, due) for due, _, occurrence, step_id in rows]


def _wanted(step: Step, prefs: Preferences) -> bool:
    """The step's plan-time conditions (skin type, pigmentation watch) hold for the patient."""
    return skin_type_matches(step, prefs.skin_type) and pigmentation_matches(
        step, prefs.pigmentation_watch
    )


@dataclass(frozen=True)
class _CourseDays:
    """The treatment's course as the planner needs it: its stage and its window's days."""

    stage: CourseStage | None
    days: dict[CourseEdge, int]

    @classmethod
    def of(cls, protocol: ProtocolSpec, course_id: str | None, session: int) -> _CourseDays:
        found = protocol.course_for(course_id)
        if found is None:
            return cls(None, {})
        _, course = found
        days = {edge: edge_day(course, edge) for edge in CourseEdge}
        return cls(stage(course.sessions, session), days)

    def timing(self, step: Step) -> Timing | None:
        """The step's timing with a course window resolved to its day; None when the step
        is not for this stage of the course (or there is no course to place it in)."""
        wanted = step.condition.course if step.condition else None
        if wanted is not None and wanted is not self.stage:
            return None
        timing = step.timing()
        if isinstance(timing, CourseWindowTiming):
            day = self.days.get(timing.edge)
            return None if day is None else DailyTiming(day, day, timing.times)
        return timing


def _anchors(treated: datetime, events: Mapping[str, datetime]) -> dict[Anchor, datetime]:
    anchors = {Anchor.TREATMENT: treated}
    for name, moment in events.items():
        if name not in _EVENT_NAMES:
            known = ", ".join(sorted(_EVENT_NAMES))
            raise InputError(f"unknown event {name!r}; known events: {known}")
        instant = require_aware(moment, f"event {name!r}")
        if instant >= treated:
            anchors[Anchor(name)] = instant
    return anchors


def _placed(
    step: Step,
    timing: Timing,
    anchor: datetime,
    treated: datetime,
    tz: ZoneInfo,
    quiet: QuietHours,
) -> Iterator[tuple[int, datetime]]:
    """The step's occurrences as (key, due), moved out of quiet hours, repeats dropped."""
    base = _key_base(step, anchor, treated)
    taken: set[datetime] = set()
    for key, due in _occurrences(timing, anchor, tz):
        if due < anchor:
            continue
        placed = place_outside_quiet(due, step.quiet, quiet, tz, floor=anchor)
        if placed is not None and placed not in taken:
            taken.add(placed)
            yield base + key, placed


def _key_base(step: Step, anchor: datetime, treated: datetime) -> int:
    if step.anchor is Anchor.TREATMENT:
        return 0
    minutes = int((anchor - treated).total_seconds()) // 60
    return minutes * KEYS_PER_OUTING_MINUTE


def _occurrences(timing: Timing, anchor: datetime, tz: ZoneInfo) -> Iterator[tuple[int, datetime]]:
    """Raw (key, due) pairs of a timing, before quiet hours are applied."""
    match timing:
        case AfterTiming(offset=offset):
            yield 0, anchor + offset
        case DailyTiming(first=first, last=last, times=times):
            anchor_day = anchor.astimezone(tz).date()
            for day in range(first, last + 1):
                date = anchor_day + timedelta(days=day)
                for index, at in enumerate(times):
                    yield day * KEYS_PER_DAY + index, wall_to_utc(datetime.combine(date, at), tz)
        case IntervalTiming(interval=interval, until=until, max_occurrences=limit):
            day_end = datetime.combine(anchor.astimezone(tz).date(), until)
            end = wall_to_utc(day_end, tz)
            for count in range(1, limit + 1):
                if anchor + count * interval > end:
                    break
                yield count, anchor + count * interval


def place_outside_quiet(
    due: datetime, rule: QuietRule, quiet: QuietHours, tz: ZoneInfo, *, floor: datetime
) -> datetime | None:
    """``due`` moved out of quiet hours by ``rule``, or None if it is dropped."""
    for _ in range(_PLACEMENT_TRIES):
        wall = due.astimezone(tz).replace(tzinfo=None)
        if not quiet.contains(wall.time()):
            return due
        if rule is QuietRule.SKIP:
            return None
        if rule is QuietRule.ADVANCE:
            earlier = wall_to_utc(quiet.start_before(wall) - ADVANCE_LEAD, tz)
            if earlier >= floor and not _is_quiet(earlier, quiet, tz):
                return earlier
            rule = QuietRule.DEFER
        later = _deferred(due, wall, quiet, tz)
        if later is None:
            return None
        due = later
    return None


def _deferred(due: datetime, wall: datetime, quiet: QuietHours, tz: ZoneInfo) -> datetime | None:
    """The end of the quiet period around ``due``; later than ``due`` or None."""
    end = quiet.end_after(wall)
    for fold in (0, 1):
        candidate = wall_to_utc(end, tz, fold=fold)
        if candidate > due:
            return candidate
    return None


def quiet_until(now: datetime, prefs: Preferences) -> datetime | None:
    """When the patient's quiet hours around ``now`` end (UTC), or None if ``now`` is not quiet.

    The dispatcher asks this before a late send: a reminder held up by an outage, or
    planned in the past by a late registration, waits for the morning like any other.
    """
    require_aware(now, "now")
    tz = zone(prefs.timezone)
    quiet = QuietHours(prefs.quiet_start, prefs.quiet_end)
    if not _is_quiet(now, quiet, tz):
        return None
    return _deferred(now, now.astimezone(tz).replace(tzinfo=None), quiet, tz)


def _is_quiet(instant: datetime, quiet: QuietHours, tz: ZoneInfo) -> bool:
    return quiet.contains(instant.astimezone(tz).time())
