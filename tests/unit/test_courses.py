"""Treatment courses: windows, the minimum gap, numbering, the plan of each course, and
the loader's errors for a broken courses block."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedules.courses import (
    Progress,
    course_from_payload,
    course_name,
    days_apart,
    initial_course,
    next_window,
    progress,
    stage,
    too_soon,
    window_days,
)
from schedules.errors import ProtocolError
from schedules.planner import PlannedReminder, Preferences, local_time, plan
from schedules.protocol import CourseStage, ProtocolSpec, bundled_protocol, parse_protocol

SPEC = bundled_protocol()
assert SPEC.courses is not None
COURSES = SPEC.courses
NUDGES = ("book-next-session-start", "book-next-session-end")
ZONES = ("Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def course_rows(reminders: list[PlannedReminder]) -> dict[str, PlannedReminder]:
    wanted = {*NUDGES, "course-complete"}
    return {r.step_id: r for r in reminders if r.step_id in wanted}


def local_day_and_time(moment: datetime, zone: str, treated: datetime) -> tuple[int, str]:
    day = (local_time(moment, zone).date() - local_time(treated, zone).date()).days
    return day, local_time(moment, zone).strftime("%H:%M")


instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


# --- numbering ----------------------------------------------------------------------


def test_an_open_ended_course_is_never_complete() -> None:
    assert [stage(None, n) for n in (1, 2, 50)] == [CourseStage.ONGOING] * 3


def test_a_finite_course_is_complete_from_its_last_session_on() -> None:
    assert [stage(3, n) for n in (1, 2, 3, 4)] == [
        CourseStage.ONGOING,
        CourseStage.ONGOING,
        CourseStage.COMPLETE,
        CourseStage.COMPLETE,
    ]


def test_session_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        stage(3, 0)


def test_progress_names_the_course_and_its_size() -> None:
    assert progress(SPEC, "collagen", 2) == Progress("collagen", 2, 3)
    assert progress(SPEC, "scars", 6) == Progress("scars", 6, 6)
    assert not Progress("collagen", 2, 3).is_last
    assert Progress("scars", 6, 6).is_last


def test_an_unknown_or_missing_course_is_the_protocol_default() -> None:
    assert progress(SPEC, "retired-course", 2) == Progress("standard", 2, None)
    assert progress(SPEC, None, 1) == Progress("standard", 1, None)


def test_a_protocol_without_courses_has_no_progress() -> None:
    assert progress(tiny(), "collagen", 1) is None


def test_course_names_follow_the_locale_with_the_base_as_fallback() -> None:
    assert course_name(SPEC, "collagen", "de") == "Kollageninduktion"
    assert course_name(SPEC, "collagen", "fr") == "Collagen induction"
    assert course_name(SPEC, "scars", "ru") == "Коррекция рубцов"


# --- windows and the minimum gap ------------------------------------------------------


def test_window_days_are_the_interval_in_weeks() -> None:
    assert window_days(COURSES["standard"]) == (28, 42)
    assert window_days(COURSES["collagen"]) == (14, 28)
    assert window_days(COURSES["scars"]) == (28, 42)


def test_the_next_window_counts_local_dates() -> None:
    # 23:30 in New York on 1 March is already 2 March in UTC: the local date counts.
    treated = utc(2026, 3, 2, 4, 30)
    assert next_window(treated, COURSES["collagen"], "America/New_York") == (
        date(2026, 3, 15),
        date(2026, 3, 29),
    )


def test_two_weeks_later_on_the_calendar_is_not_too_soon_for_collagen() -> None:
    collagen = COURSES["collagen"]
    previous = utc(2026, 3, 1, 17)  # 17:00 London
    assert not too_soon(previous, utc(2026, 3, 15, 9), collagen, "Europe/London")
    assert too_soon(previous, utc(2026, 3, 14, 20), collagen, "Europe/London")
    assert too_soon(previous, previous + timedelta(days=3), collagen, "Europe/London")


def test_the_gap_across_a_dst_change_still_counts_calendar_days() -> None:
    # London springs forward on 29 March 2026: 14 local days are 14*24 - 1 hours.
    previous = utc(2026, 3, 20, 10)
    new = utc(2026, 4, 3, 9)  # 10:00 BST, 14 calendar days later
    assert days_apart(previous, new, "Europe/London") == 14
    assert not too_soon(previous, new, COURSES["collagen"], "Europe/London")


@given(previous=instants, gap=st.integers(min_value=0, max_value=60), zone=st.sampled_from(ZONES))
def test_a_session_is_too_soon_exactly_before_the_window_opens(
    previous: datetime, gap: int, zone: str
) -> None:
    for course in COURSES.values():
        first_day, _ = next_window(previous, course, zone)
        local_previous = local_time(previous, zone)
        new_local = datetime.combine(
            local_previous.date() + timedelta(days=gap), time(12), local_previous.tzinfo
        )
        new = new_local.astimezone(UTC)
        on_calendar = local_time(new, zone).date()
        assert too_soon(previous, new, course, zone) == (on_calendar < first_day)


@given(
    previous=instants,
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90)),
    zone=st.sampled_from(ZONES),
)
def test_days_apart_never_disagrees_with_the_local_calendar(
    previous: datetime, later: timedelta, zone: str
) -> None:
    new = previous + later
    expected = (local_time(new, zone).date() - local_time(previous, zone).date()).days
    assert days_apart(previous, new, zone) == expected
    assert days_apart(new, previous, zone) == -expected


# --- deep links ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "course"),
    [
        ("course-collagen", "collagen"),
        ("clinic-abc_course-scars", "scars"),
        ("course-", None),
        ("clinic-abc", None),
        ("", None),
        (None, None),
    ],
)
def test_a_deep_link_may_name_a_course(payload: str | None, course: str | None) -> None:
    assert course_from_payload(payload) == course


def test_the_first_treatment_follows_the_link_if_the_protocol_has_that_course() -> None:
    assert initial_course(SPEC, "course-collagen") == "collagen"
    assert initial_course(SPEC, "course-unknown") == "standard"
    assert initial_course(SPEC, None) == "standard"
    assert initial_course(tiny(), "course-collagen") is None


# --- the plan of each course ----------------------------------------------------------


@pytest.mark.parametrize(
    ("course", "start_day", "end_day"), [("standard", 28, 42), ("collagen", 14, 28)]
)
def test_booking_nudges_open_and_close_the_course_s_window(
    course: str, start_day: int, end_day: int
) -> None:
    treated = utc(2026, 5, 4, 10)
    rows = course_rows(plan(SPEC, treated, Preferences("Europe/London", course=course)))
    assert set(rows) == set(NUDGES)
    start, end = rows["book-next-session-start"], rows["book-next-session-end"]
    assert local_day_and_time(start.due_at, "Europe/London", treated) == (start_day, "11:00")
    assert local_day_and_time(end.due_at, "Europe/London", treated) == (end_day, "11:00")
    assert (start.occurrence, end.occurrence) == (start_day * 100, end_day * 100)


def test_without_a_course_the_plan_is_the_default_course_s() -> None:
    treated = utc(2026, 5, 4, 10)
    prefs = Preferences("Europe/London")
    assert plan(SPEC, treated, prefs) == plan(
        SPEC, treated, Preferences("Europe/London", course="standard")
    )
    assert plan(SPEC, treated, prefs) == plan(
        SPEC, treated, Preferences("Europe/London", course="withdrawn")
    )


def test_the_last_session_of_a_course_ends_with_course_complete_instead_of_a_nudge() -> None:
    treated = utc(2026, 5, 4, 10)
    prefs = Preferences("Europe/London", course="collagen", session=3)
    rows = course_rows(plan(SPEC, treated, prefs))
    assert set(rows) == {"course-complete"}
    complete = rows["course-complete"].due_at
    assert local_day_and_time(complete, "Europe/London", treated) == (14, "11:00")


@pytest.mark.parametrize(("course", "session"), [("collagen", 2), ("scars", 5), ("standard", 9)])
def test_before_the_last_session_there_is_no_course_complete(course: str, session: int) -> None:
    rows = course_rows(
        plan(SPEC, utc(2026, 5, 4, 10), Preferences("UTC", course=course, session=session))
    )
    assert set(rows) == set(NUDGES)


def test_the_rest_of_the_plan_does_not_depend_on_the_course() -> None:
    treated = utc(2026, 5, 4, 10)
    others = [
        {
            (r.step_id, r.occurrence, r.due_at)
            for r in reminders
            if r.step_id not in course_rows(reminders)
        }
        for reminders in (
            plan(SPEC, treated, Preferences("Europe/Berlin")),
            plan(SPEC, treated, Preferences("Europe/Berlin", course="scars", session=6)),
        )
    ]
    assert others[0] == others[1]


@given(treated=instants, zone=st.sampled_from(ZONES), session=st.integers(1, 4))
def test_course_steps_fall_on_local_window_days_at_eleven(
    treated: datetime, zone: str, session: int
) -> None:
    rows = course_rows(plan(SPEC, treated, Preferences(zone, course="collagen", session=session)))
    expected = {"course-complete": 14} if session >= 3 else {NUDGES[0]: 14, NUDGES[1]: 28}
    assert {step: local_day_and_time(r.due_at, zone, treated) for step, r in rows.items()} == {
        step: (day, "11:00") for step, day in expected.items()
    }


def test_a_session_number_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        Preferences("UTC", session=0)


# --- the loader -----------------------------------------------------------------------

COURSE = {"name": {"en": "Collagen"}, "sessions": 3, "interval_weeks": [2, 4]}


def tiny(step: dict[str, Any] | None = None, **top: Any) -> ProtocolSpec:
    return parse_protocol(_data(step, **top), "tiny.yaml")


def _data(step: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    body = step or {"id": "only", "kind": "advice", "after": "1h", "text": {"en": "Hi."}}
    data = {"slug": "t", "version": 1, "name": {"en": "T"}, "locales": ["en"], "steps": [body]}
    return data | top


def _nudge(**changes: Any) -> dict[str, Any]:
    step = {
        "id": "nudge",
        "kind": "nudge",
        "course_window": "start",
        "at": "11:00",
        "text": {"en": "Book in {next_session_weeks} weeks."},
    }
    return {key: value for key, value in (step | changes).items() if value is not None}


def test_a_single_course_is_the_default_without_saying_so() -> None:
    spec = tiny(_nudge(), courses={"collagen": COURSE})
    assert spec.default_course_id == "collagen"
    rows = plan(spec, utc(2026, 5, 4, 10), Preferences("UTC"))
    assert [(r.step_id, r.occurrence) for r in rows] == [("nudge", 1400)]


@pytest.mark.parametrize(
    ("top", "field", "detail"),
    [
        ({"courses": {"a": COURSE, "b": COURSE}}, "default_course", "several courses"),
        ({"courses": {"a": COURSE}, "default_course": "z"}, "default_course", '"z" is not one'),
        ({"default_course": "a"}, "default_course", "needs a courses block"),
        ({"courses": {}}, "courses", "at least 1 item"),
        (
            {"courses": {"a": COURSE | {"interval_weeks": [6, 4]}}},
            "courses.a.interval_weeks",
            "the first must not be larger",
        ),
        ({"courses": {"a": COURSE | {"sessions": 0}}}, "courses.a.sessions", "greater than"),
        ({"courses": {"a": COURSE | {"sessions": "3"}}}, "courses.a.sessions", "integer"),
        ({"courses": {"a": COURSE | {"name": {}}}}, "courses.a.name.en", 'missing the "en"'),
        (
            {"courses": {"a": COURSE | {"interval_week": [2, 4]}}},
            "courses.a.interval_week",
            'did you mean "interval_weeks"',
        ),
        ({"courses": {"Big Course": COURSE}}, "courses.Big Course", "course id"),
        ({"courses": {"a" * 33: COURSE}}, f"courses.{'a' * 33}", "at most 32"),
    ],
)
def test_a_broken_courses_block_names_the_field(
    top: dict[str, Any], field: str, detail: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        tiny(**top)
    prefix = f'tiny.yaml: field "{field}": '
    lines = [line for line in str(caught.value).splitlines() if line.startswith(prefix)]
    assert lines, str(caught.value)
    assert detail in lines[0]


@pytest.mark.parametrize(
    ("step", "field", "detail"),
    [
        (_nudge(), "course_window", "needs a top-level courses block"),
        (_nudge(text={"en": "Hi {course_sessions}"}), "text.en", "{course_sessions} needs"),
        (_nudge(text={"en": "Hi {session_number}"}), "text.en", "{session_number} needs"),
        (
            _nudge(course_window=None, after="1h", at=None, condition={"course": "complete"}),
            "condition.course",
            "needs a top-level courses block",
        ),
    ],
)
def test_course_steps_need_courses(step: dict[str, Any], field: str, detail: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        tiny(step)
    assert f'step "nudge" (steps[0]), field "{field}": ' in str(caught.value)
    assert detail in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "field", "detail"),
    [
        ({"at": None}, "at", "required with course_window"),
        ({"course_window": "middle"}, "course_window", '"middle"'),
        ({"day": 3}, "course_window", 'a step has one timing and "day"'),
        ({"condition": {"course": "someday"}}, "condition.course", '"someday"'),
    ],
)
def test_a_broken_course_step_names_the_field(
    changes: dict[str, Any], field: str, detail: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        tiny(_nudge(**changes), courses={"collagen": COURSE})
    prefix = f'tiny.yaml: step "nudge" (steps[0]), field "{field}": '
    lines = [line for line in str(caught.value).splitlines() if line.startswith(prefix)]
    assert lines, str(caught.value)
    assert detail in lines[0]


def test_courses_survive_storage_and_change_the_checksum() -> None:
    stored = ProtocolSpec.model_validate(SPEC.model_dump(mode="json"))
    assert stored == SPEC
    assert stored.courses == SPEC.courses
    changed = SPEC.model_dump(mode="json")
    changed["courses"]["collagen"]["sessions"] = 4
    assert ProtocolSpec.model_validate(changed).checksum() != SPEC.checksum()
