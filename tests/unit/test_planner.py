"""The pure planner: local times, DST, quiet hours, stable occurrence keys, late decisions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from schedules.errors import InputError
from schedules.planner import (
    PatientState,
    PlannedReminder,
    Preferences,
    decide_late,
    local_time,
    plan,
    step_applies,
)
from schedules.protocol import ProtocolSpec, bundled_protocol, parse_protocol


def awake(zone: str) -> Preferences:
    """Preferences without quiet hours (start == end)."""
    return Preferences(zone, quiet_start=time(0, 0), quiet_end=time(0, 0))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def tiny(**step: Any) -> ProtocolSpec:
    """A protocol of one English step called "s" with the given timing and rules."""
    body = {"id": "s", "kind": "advice", "text": {"en": "Hi."}} | step
    data = {"slug": "t", "version": 1, "name": {"en": "T"}, "locales": ["en"], "steps": [body]}
    return parse_protocol(data, "tiny.yaml")


def dues(reminders: list[PlannedReminder], step_id: str = "s") -> list[datetime]:
    return [r.due_at for r in reminders if r.step_id == step_id]


def walls(reminders: list[PlannedReminder], zone: str, step_id: str = "s") -> list[str]:
    return [
        local_time(r.due_at, zone).strftime("%m-%d %H:%M")
        for r in reminders
        if r.step_id == step_id
    ]


@pytest.fixture(scope="module")
def bundled() -> ProtocolSpec:
    return bundled_protocol()


# --- DST: gaps move to the transition, folds take the first pass, days keep wall time --


def test_london_spring_forward_gap_moves_to_the_transition_instant() -> None:
    spec = tiny(day=1, at="01:30")
    reminders = plan(spec, utc(2026, 3, 28, 12), awake("Europe/London"))
    assert dues(reminders) == [utc(2026, 3, 29, 1, 0)]
    assert walls(reminders, "Europe/London") == ["03-29 02:00"]


def test_london_fall_back_fold_takes_the_first_occurrence() -> None:
    spec = tiny(day=1, at="01:30")
    reminders = plan(spec, utc(2026, 10, 24, 12), awake("Europe/London"))
    assert dues(reminders) == [utc(2026, 10, 25, 0, 30)]
    assert local_time(reminders[0].due_at, "Europe/London").utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("treated", "expected_utc"),
    [
        (utc(2026, 3, 27, 12), [utc(2026, 3, 28, 9), utc(2026, 3, 29, 8), utc(2026, 3, 30, 8)]),
        (utc(2026, 10, 24, 7), [utc(2026, 10, 24, 8), utc(2026, 10, 25, 9), utc(2026, 10, 26, 9)]),
    ],
)
def test_london_day_steps_keep_nine_o_clock_across_dst(
    treated: datetime, expected_utc: list[datetime]
) -> None:
    spec = tiny(days=[0, 3], at="09:00")
    reminders = plan(spec, treated, Preferences("Europe/London"))
    assert dues(reminders)[:3] == expected_utc
    assert {w[-5:] for w in walls(reminders, "Europe/London")} == {"09:00"}


def test_after_24h_is_exact_elapsed_time_across_spring_forward() -> None:
    spec = tiny(after="24h")
    reminders = plan(spec, utc(2026, 3, 28, 10), awake("Europe/London"))
    assert dues(reminders) == [utc(2026, 3, 29, 10)]
    assert walls(reminders, "Europe/London") == ["03-29 11:00"]


def test_new_york_spring_forward_and_fall_back() -> None:
    prefs = awake("America/New_York")
    spring = plan(tiny(day=1, at="02:30"), utc(2026, 3, 7, 17), prefs)
    assert dues(spring) == [utc(2026, 3, 8, 7, 0)]  # 03:00 EDT, the end of the gap
    fall = plan(tiny(day=1, at="01:30"), utc(2026, 10, 31, 17), prefs)
    assert dues(fall) == [utc(2026, 11, 1, 5, 30)]  # 01:30 EDT, the first pass
    nine = plan(tiny(days=[0, 1], at="09:00"), utc(2026, 10, 31, 12), prefs)
    assert dues(nine) == [utc(2026, 10, 31, 13), utc(2026, 11, 1, 14)]


def test_sydney_southern_hemisphere_dst_end_and_start() -> None:
    prefs = awake("Australia/Sydney")
    # DST ends 2026-04-05 03:00 AEDT -> 02:00 AEST: 02:30 happens twice, take the first.
    ends = plan(tiny(day=1, at="02:30"), utc(2026, 4, 3, 22), prefs)
    assert dues(ends) == [utc(2026, 4, 4, 15, 30)]
    # DST starts 2026-10-04 02:00 AEST -> 03:00 AEDT: 02:30 does not exist.
    starts = plan(tiny(day=1, at="02:30"), utc(2026, 10, 2, 22), prefs)
    assert dues(starts) == [utc(2026, 10, 3, 16, 0)]
    assert walls(starts, "Australia/Sydney") == ["10-04 03:00"]
    nine = plan(tiny(days=[0, 1], at="09:00"), utc(2026, 4, 3, 21), prefs)
    assert dues(nine) == [utc(2026, 4, 3, 22), utc(2026, 4, 4, 23)]


def test_kathmandu_quarter_hour_offset() -> None:
    reminders = plan(
        tiny(days=[0, 1], at="09:00"), utc(2026, 6, 1, 0), Preferences("Asia/Kathmandu")
    )
    assert dues(reminders) == [utc(2026, 6, 1, 3, 15), utc(2026, 6, 2, 3, 15)]


def test_kathmandu_quiet_hours_are_local() -> None:
    # 15:30 UTC is 21:15 in Kathmandu: inside the default quiet hours, so 08:00 next day.
    reminders = plan(tiny(after="30m"), utc(2026, 6, 1, 15), Preferences("Asia/Kathmandu"))
    assert dues(reminders) == [utc(2026, 6, 2, 2, 15)]


def test_day_numbers_count_local_calendar_days() -> None:
    # 23:30 UTC on 1 June is already 2 June in Tokyo: day 0 is 2 June there.
    reminders = plan(tiny(day=1, at="12:00"), utc(2026, 6, 1, 23, 30), Preferences("Asia/Tokyo"))
    assert walls(reminders, "Asia/Tokyo") == ["06-03 12:00"]


def test_occurrences_before_the_treatment_are_not_planned() -> None:
    reminders = plan(tiny(days=[0, 2], at="09:00"), utc(2026, 6, 1, 14), Preferences("UTC"))
    assert dues(reminders) == [utc(2026, 6, 2, 9), utc(2026, 6, 3, 9)]
    assert [r.occurrence for r in reminders] == [100, 200]


# --- quiet hours ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("defer", ["06-03 08:00"]),
        ("advance", ["06-02 20:30"]),
        ("skip", []),
    ],
)
def test_quiet_rules(rule: str, expected: list[str]) -> None:
    spec = tiny(day=1, at="22:00", quiet=rule)
    reminders = plan(spec, utc(2026, 6, 1, 9), Preferences("Europe/Berlin"))
    assert walls(reminders, "Europe/Berlin") == expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("01:00", "06-02 07:00"),  # after midnight: the same night's end
        ("23:30", "06-03 07:00"),  # before midnight: tomorrow's end
        ("22:59", "06-02 22:59"),  # just before the start: not quiet
        ("07:00", "06-02 07:00"),  # the end itself is not quiet
    ],
)
def test_quiet_hours_wrap_around_midnight(at: str, expected: str) -> None:
    prefs = Preferences("Europe/Berlin", quiet_start=time(23, 0), quiet_end=time(7, 0))
    reminders = plan(tiny(day=1, at=at), utc(2026, 6, 1, 0), prefs)
    assert walls(reminders, "Europe/Berlin") == [expected]


def test_quiet_hours_within_one_day() -> None:
    prefs = Preferences("Europe/Berlin", quiet_start=time(12, 0), quiet_end=time(14, 0))
    deferred = plan(tiny(day=1, at="13:00"), utc(2026, 6, 1, 0), prefs)
    assert walls(deferred, "Europe/Berlin") == ["06-02 14:00"]
    advanced = plan(tiny(day=1, at="13:00", quiet="advance"), utc(2026, 6, 1, 0), prefs)
    assert walls(advanced, "Europe/Berlin") == ["06-02 11:30"]


def test_equal_quiet_start_and_end_means_no_quiet_hours() -> None:
    reminders = plan(tiny(day=1, at="03:00"), utc(2026, 6, 1, 0), awake("UTC"))
    assert dues(reminders) == [utc(2026, 6, 2, 3)]


def test_makeup_24h_in_quiet_hours_is_deferred_to_the_next_morning(bundled: ProtocolSpec) -> None:
    # Treated at 21:30 London time; 24 h later is 21:30 again, inside 21:00-08:00.
    reminders = plan(bundled, utc(2026, 6, 1, 20, 30), Preferences("Europe/London"))
    assert walls(reminders, "Europe/London", "makeup-allowed") == ["06-03 08:00"]


def test_an_advance_before_the_treatment_falls_back_to_defer() -> None:
    spec = tiny(after="30m", quiet="advance")
    reminders = plan(spec, utc(2026, 6, 1, 19, 45), Preferences("Europe/London"))
    assert walls(reminders, "Europe/London") == ["06-02 08:00"]


def test_a_quiet_end_inside_a_dst_gap_moves_to_the_transition() -> None:
    prefs = Preferences("Europe/London", quiet_start=time(23, 0), quiet_end=time(1, 30))
    reminders = plan(tiny(day=1, at="00:15"), utc(2026, 3, 28, 12), prefs)
    assert dues(reminders) == [utc(2026, 3, 29, 1, 0)]
    assert walls(reminders, "Europe/London") == ["03-29 02:00"]


def test_two_times_deferred_to_the_same_instant_are_sent_once() -> None:
    spec = tiny(day=1, at=["22:00", "23:00"])
    reminders = plan(spec, utc(2026, 6, 1, 9), Preferences("UTC"))
    assert [(r.occurrence, r.due_at) for r in reminders] == [(100, utc(2026, 6, 3, 8))]


# --- stable plans and keys ------------------------------------------------------------


def test_planning_twice_gives_the_same_plan(bundled: ProtocolSpec) -> None:
    prefs = Preferences("Europe/Madrid", skin_type="dry")
    events = {"outdoors": utc(2026, 5, 3, 9)}
    first = plan(bundled, utc(2026, 5, 1, 10), prefs, events=events)
    second = plan(bundled, utc(2026, 5, 1, 10), prefs, events=events)
    assert first == second
    assert len(first) > 60


def test_the_plan_is_sorted_by_due_time_then_step_order(bundled: ProtocolSpec) -> None:
    reminders = plan(bundled, utc(2026, 5, 1, 10), Preferences("Europe/London"))
    assert [r.step_id for r in reminders[:2]] == ["expected-effects", "contraindications"]
    order = {step.id: index for index, step in enumerate(bundled.steps)}
    keys = [(r.due_at, order[r.step_id]) for r in reminders]
    assert keys == sorted(keys)


def test_a_new_timezone_keeps_the_occurrence_keys(bundled: ProtocolSpec) -> None:
    treated = utc(2026, 5, 1, 10)
    london = plan(bundled, treated, Preferences("Europe/London"))
    tokyo = plan(bundled, treated, Preferences("Asia/Tokyo"))
    for reminders, zone in ((london, "Europe/London"), (tokyo, "Asia/Tokyo")):
        day0 = local_time(treated, zone).date()
        for r in reminders:
            if r.step_id in ("heat-advice", "sun-protection", "book-next-session-end"):
                assert (local_time(r.due_at, zone).date() - day0).days == r.occurrence // 100
    daily = {"heat-advice", "sun-protection", "redness-checkin", "moisturise-morning"}

    def later_keys(reminders: list[PlannedReminder]) -> set[tuple[str, int]]:
        return {(r.step_id, r.occurrence) for r in reminders if r.occurrence >= 100}

    assert later_keys(london) == later_keys(tokyo)
    assert {step for step, _ in later_keys(london)} >= daily
    assert {r.due_at for r in london} != {r.due_at for r in tokyo}


def test_a_new_treatment_time_moves_dues_but_keeps_keys(bundled: ProtocolSpec) -> None:
    prefs = Preferences("Europe/London")
    before = {(r.step_id, r.occurrence): r.due_at for r in plan(bundled, utc(2026, 5, 1, 6), prefs)}
    after = {(r.step_id, r.occurrence): r.due_at for r in plan(bundled, utc(2026, 5, 2, 6), prefs)}
    assert before.keys() == after.keys()
    assert all(after[key] - before[key] == timedelta(days=1) for key in before)


# --- outings, skin types, input checks --------------------------------------------------


def test_outdoors_reapply_every_two_hours_until_seven_pm(bundled: ProtocolSpec) -> None:
    prefs = Preferences("Europe/London")
    reminders = plan(bundled, utc(2026, 5, 1, 10), prefs, events={"outdoors": utc(2026, 5, 3, 9)})
    assert walls(reminders, "Europe/London", "spf-reapply-outdoors") == [
        "05-03 12:00",
        "05-03 14:00",
        "05-03 16:00",
        "05-03 18:00",
    ]
    keys = [r.occurrence for r in reminders if r.step_id == "spf-reapply-outdoors"]
    minutes = (2 * 24 - 1) * 60
    assert keys == [minutes * 100 + k for k in (1, 2, 3, 4)]


def test_each_outing_gets_its_own_keys(bundled: ProtocolSpec) -> None:
    prefs = Preferences("Europe/London")
    treated = utc(2026, 5, 1, 10)

    def keys(outdoors: datetime) -> set[int]:
        reminders = plan(bundled, treated, prefs, events={"outdoors": outdoors})
        return {r.occurrence for r in reminders if r.step_id == "spf-reapply-outdoors"}

    morning, afternoon = keys(utc(2026, 5, 3, 7)), keys(utc(2026, 5, 3, 13))
    assert morning
    assert afternoon
    assert not morning & afternoon


def test_outdoors_reminders_stop_at_the_occurrence_limit(bundled: ProtocolSpec) -> None:
    prefs = Preferences("Europe/London", quiet_start=time(23, 0), quiet_end=time(5, 0))
    reminders = plan(bundled, utc(2026, 5, 1, 4), prefs, events={"outdoors": utc(2026, 5, 1, 4)})
    assert len(dues(reminders, "spf-reapply-outdoors")) == 6


def test_no_outdoors_reminders_without_an_outing_or_after_sunset(bundled: ProtocolSpec) -> None:
    prefs = Preferences("Europe/London")
    treated = utc(2026, 5, 1, 10)
    assert not dues(plan(bundled, treated, prefs), "spf-reapply-outdoors")
    late = plan(bundled, treated, prefs, events={"outdoors": utc(2026, 5, 2, 18, 30)})
    assert not dues(late, "spf-reapply-outdoors")
    before = plan(bundled, treated, prefs, events={"outdoors": utc(2026, 4, 30, 9)})
    assert not dues(before, "spf-reapply-outdoors")


def test_evening_moisturiser_only_for_dry_skin(bundled: ProtocolSpec) -> None:
    treated = utc(2026, 5, 1, 10)
    dry = plan(bundled, treated, Preferences("Europe/London", skin_type="dry"))
    unknown = plan(bundled, treated, Preferences("Europe/London"))
    oily = plan(bundled, treated, Preferences("Europe/London", skin_type="oily"))
    assert len(dues(dry, "moisturise-evening-dry")) == 8
    assert not dues(unknown, "moisturise-evening-dry")
    assert not dues(oily, "moisturise-evening-dry")


def test_naive_datetimes_are_refused(bundled: ProtocolSpec) -> None:
    with pytest.raises(ValueError, match="treated_at"):
        plan(bundled, datetime(2026, 5, 1, 10), Preferences("UTC"))
    with pytest.raises(ValueError, match="outdoors"):
        plan(
            bundled, utc(2026, 5, 1), Preferences("UTC"), events={"outdoors": datetime(2026, 5, 2)}
        )
    with pytest.raises(ValueError, match="due_at"):
        local_time(datetime(2026, 5, 1), "UTC")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "Europe", "../etc/passwd", "localtime"])
def test_an_unknown_timezone_is_an_input_error(bundled: ProtocolSpec, zone: str) -> None:
    with pytest.raises(InputError, match=r"unknown timezone .*IANA"):
        plan(bundled, utc(2026, 5, 1), Preferences(zone))


def test_an_unknown_event_is_an_input_error(bundled: ProtocolSpec) -> None:
    with pytest.raises(InputError, match="unknown event 'indoors'"):
        plan(bundled, utc(2026, 5, 1), Preferences("UTC"), events={"indoors": utc(2026, 5, 2)})


def test_local_time_converts_to_the_zone() -> None:
    moment = local_time(utc(2026, 7, 1, 12), "America/New_York")
    assert (moment.hour, moment.utcoffset()) == (8, timedelta(hours=-4))


# --- send-time decisions --------------------------------------------------------------


def test_late_send_policy_always_sends(bundled: ProtocolSpec) -> None:
    step = bundled.step("makeup-allowed")
    due = utc(2026, 5, 1, 8)
    assert decide_late(step, due, due + timedelta(days=9), newer_occurrence_due=True) == "send"


def test_late_skip_policy_sends_within_grace_only(bundled: ProtocolSpec) -> None:
    step = bundled.step("spf-reapply-outdoors")  # skip, grace 30m
    due = utc(2026, 5, 1, 12)
    assert decide_late(step, due, due + timedelta(minutes=30), newer_occurrence_due=False) == "send"
    assert decide_late(step, due, due + timedelta(minutes=31), newer_occurrence_due=False) == "skip"


def test_late_collapse_sends_only_the_newest_within_grace(bundled: ProtocolSpec) -> None:
    step = bundled.step("sun-protection")  # collapse, grace 6h
    due = utc(2026, 5, 1, 7, 30)
    assert decide_late(step, due, due + timedelta(hours=1), newer_occurrence_due=True) == "skip"
    assert decide_late(step, due, due + timedelta(hours=1), newer_occurrence_due=False) == "send"
    assert decide_late(step, due, due + timedelta(hours=7), newer_occurrence_due=False) == "skip"


def test_an_early_call_is_on_time(bundled: ProtocolSpec) -> None:
    step = bundled.step("spf-reapply-outdoors")
    due = utc(2026, 5, 1, 12)
    assert decide_late(step, due, due - timedelta(minutes=1), newer_occurrence_due=False) == "send"


def test_decide_late_refuses_naive_now(bundled: ProtocolSpec) -> None:
    with pytest.raises(ValueError, match="now"):
        decide_late(
            bundled.step("peeling"),
            utc(2026, 5, 1),
            datetime(2026, 5, 2),
            newer_occurrence_due=False,
        )


def test_redness_steps_stop_once_the_redness_is_gone(bundled: ProtocolSpec) -> None:
    red, calm = PatientState(redness_gone=False), PatientState(redness_gone=True)
    for step_id in ("heat-advice", "redness-checkin"):
        assert step_applies(bundled.step(step_id), red)
        assert not step_applies(bundled.step(step_id), calm)
    assert step_applies(bundled.step("sun-protection"), calm)


def test_skin_type_conditions_are_checked_at_send_time_too(bundled: ProtocolSpec) -> None:
    step = bundled.step("moisturise-evening-dry")
    assert step_applies(step, PatientState(skin_type="dry"))
    assert step_applies(step, PatientState(skin_type=" Dry "))
    assert not step_applies(step, PatientState(skin_type="oily"))
    assert not step_applies(step, PatientState(skin_type=None))
