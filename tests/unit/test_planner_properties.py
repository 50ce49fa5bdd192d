"""Properties of the planner over random instants, timezones and quiet hours."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from schedules.planner import PlannedReminder, Preferences, QuietHours, local_time, plan
from schedules.protocol import ProtocolSpec, bundled_protocol, parse_protocol

ZONES = sorted(available_timezones() - {"localtime", "posixrules", "Factory"})


def _awkward() -> ProtocolSpec:
    """Steps at awkward local times (01:30 and 02:30 sit in many DST gaps and folds),
    with every quiet rule, so the properties also cover what the bundled file avoids."""
    steps: list[dict[str, Any]] = [
        {"id": "night", "days": [0, 3], "at": ["01:30", "02:30"]},
        {"id": "late", "days": [0, 3], "at": "23:45", "quiet": "advance"},
        {"id": "early", "days": [1, 2], "at": "00:10", "quiet": "skip"},
        {"id": "soon", "after": "90m", "quiet": "advance"},
        {"id": "out", "anchor": "outdoors", "every": "45m", "until_local": "23:00"},
    ]
    data = {
        "slug": "awkward",
        "version": 1,
        "name": {"en": "Awkward"},
        "locales": ["en"],
        "steps": [step | {"kind": "advice", "text": {"en": "Hi."}} for step in steps],
    }
    return parse_protocol(data, "awkward.yaml")


PROTOCOLS = [bundled_protocol(), _awkward()]

# Days around DST changes in Europe, North America and Australia in 2026.
DST_DAYS = [
    datetime(2026, m, d, tzinfo=UTC)
    for m, d in ((3, 8), (3, 29), (4, 5), (10, 4), (10, 25), (11, 1))
]

instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
) | st.builds(
    lambda day, shift: day + shift,
    st.sampled_from(DST_DAYS),
    st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=2)),
)
minutes = st.builds(time, st.integers(0, 23), st.integers(0, 59)) | st.sampled_from(
    [time(1, 0), time(1, 30), time(2, 0), time(2, 30), time(3, 0), time(21, 0), time(8, 0)]
)
preferences = st.builds(
    Preferences,
    timezone=st.sampled_from(ZONES),
    quiet_start=minutes,
    quiet_end=minutes,
    skin_type=st.sampled_from([None, "dry", "oily"]),
)
outings = st.none() | st.builds(timedelta, minutes=st.integers(0, 20 * 24 * 60))


def _plan(
    protocol: ProtocolSpec, treated: datetime, prefs: Preferences, outing: timedelta | None
) -> list[PlannedReminder]:
    events = None if outing is None else {"outdoors": treated + outing}
    return plan(protocol, treated, prefs, events=events)


@settings(max_examples=200, deadline=None)
@given(
    protocol=st.sampled_from(PROTOCOLS),
    treated=instants,
    prefs=preferences,
    outing=outings,
)
def test_plans_respect_quiet_hours_treatment_time_and_are_stable(
    protocol: ProtocolSpec, treated: datetime, prefs: Preferences, outing: timedelta | None
) -> None:
    reminders = _plan(protocol, treated, prefs, outing)
    quiet = QuietHours(prefs.quiet_start, prefs.quiet_end)

    for reminder in reminders:
        assert reminder.due_at.tzinfo is UTC
        assert reminder.due_at >= treated
        assert not quiet.contains(local_time(reminder.due_at, prefs.timezone).time())

    keys = Counter((r.step_id, r.occurrence) for r in reminders)
    assert all(count == 1 for count in keys.values())

    order = {step.id: index for index, step in enumerate(protocol.steps)}
    sort_keys = [(r.due_at, order[r.step_id]) for r in reminders]
    assert sort_keys == sorted(sort_keys)

    assert _plan(protocol, treated, prefs, outing) == reminders


@settings(max_examples=100, deadline=None)
@given(protocol=st.sampled_from(PROTOCOLS), treated=instants, prefs=preferences)
def test_day_step_keys_name_the_local_day_and_time(
    protocol: ProtocolSpec, treated: datetime, prefs: Preferences
) -> None:
    day0 = local_time(treated, prefs.timezone).date()
    for reminder in plan(protocol, treated, prefs):
        step = protocol.step(reminder.step_id)
        if step.days is None or step.at is None:
            continue
        day, index = divmod(reminder.occurrence, 100)
        assert step.days[0] <= day <= step.days[1]
        assert index < len(step.at)
        wall = local_time(reminder.due_at, prefs.timezone)
        if wall.time() == step.at[index]:
            assert (wall.date() - day0).days == day
