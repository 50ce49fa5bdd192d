"""Outdoor mode, pure: when an outing ends, which reminders a plan holds for it, and the
keys of snoozed copies (which must never collide with planned keys)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedules.outdoors import (
    MAX_OUTING,
    outdoor_step_ids,
    outing_end,
    outing_is_on,
    outing_reminders,
    plan_with_outing,
)
from schedules.planner import Preferences, plan
from schedules.protocol import ProtocolSpec, bundled_protocol
from schedules.snooze import snooze_due, snooze_occurrence

LONDON = "Europe/London"
REAPPLY = "spf-reapply-outdoors"
TREATED = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 10:00 in London (BST)
BUNDLED = bundled_protocol()


@pytest.fixture(scope="module")
def spec() -> ProtocolSpec:
    return BUNDLED


def london(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo(LONDON)).astimezone(UTC)


def walls(moments: list[datetime], zone: str = LONDON) -> list[str]:
    return [f"{m.astimezone(ZoneInfo(zone)):%H:%M}" for m in moments]


def test_the_bundled_protocol_has_one_outdoor_step(spec: ProtocolSpec) -> None:
    assert outdoor_step_ids(spec) == {REAPPLY}


def test_a_morning_outing_ends_after_the_longest_duration(spec: ProtocolSpec) -> None:
    since = london(6, 2, 9)
    assert outing_end(spec, since, LONDON) == since + MAX_OUTING  # 17:00, before 19:00


def test_an_afternoon_outing_ends_at_local_evening(spec: ProtocolSpec) -> None:
    assert outing_end(spec, london(6, 2, 14), LONDON) == london(6, 2, 19)


def test_an_outing_started_in_the_evening_is_over_at_once(spec: ProtocolSpec) -> None:
    since = london(6, 2, 20)
    assert outing_end(spec, since, LONDON) < since
    assert not outing_is_on(spec, since, LONDON, since)


def test_outing_is_on_between_start_and_end_inclusive(spec: ProtocolSpec) -> None:
    since = london(6, 2, 14)
    assert not outing_is_on(spec, None, LONDON, since)
    assert not outing_is_on(spec, since, None, since)
    assert not outing_is_on(spec, since, LONDON, since - timedelta(seconds=1))
    assert outing_is_on(spec, since, LONDON, since)
    assert outing_is_on(spec, since, LONDON, london(6, 2, 19))
    assert not outing_is_on(spec, since, LONDON, london(6, 2, 19, 1))


def test_the_plan_holds_an_outing_every_two_hours_up_to_its_end(spec: ProtocolSpec) -> None:
    prefs = Preferences(LONDON)
    since = london(6, 2, 9)
    planned = plan_with_outing(spec, TREATED, prefs, outdoors_since=since, now=since)
    assert walls(outing_reminders(planned, spec, since)) == ["11:00", "13:00", "15:00", "17:00"]
    # Without the 8-hour cap the protocol alone would also remind at 19:00.
    alone = plan(spec, TREATED, prefs, events={"outdoors": since})
    assert "19:00" in walls([p.due_at for p in alone if p.step_id == REAPPLY])
    # Everything else is the plain treatment plan.
    others = [p for p in planned if p.step_id != REAPPLY]
    assert others == plan(spec, TREATED, prefs)


def test_an_afternoon_outing_stops_at_seven_local(spec: ProtocolSpec) -> None:
    since = london(6, 2, 13, 30)
    planned = plan_with_outing(spec, TREATED, Preferences(LONDON), outdoors_since=since, now=since)
    assert walls(outing_reminders(planned, spec, since)) == ["15:30", "17:30"]


def test_reapply_reminders_are_skipped_inside_quiet_hours(spec: ProtocolSpec) -> None:
    prefs = Preferences(LONDON, quiet_start=time(16, 0), quiet_end=time(8, 0))
    since = london(6, 2, 11)
    planned = plan_with_outing(spec, TREATED, prefs, outdoors_since=since, now=since)
    assert walls(outing_reminders(planned, spec, since)) == ["13:00", "15:00"]


def test_an_ended_outing_plans_nothing(spec: ProtocolSpec) -> None:
    since = london(6, 2, 9)
    prefs = Preferences(LONDON)
    later = since + MAX_OUTING + timedelta(minutes=1)
    planned = plan_with_outing(spec, TREATED, prefs, outdoors_since=since, now=later)
    assert [p for p in planned if p.step_id == REAPPLY] == []
    assert planned == plan(spec, TREATED, prefs)


def test_the_outing_keeps_its_keys_whenever_it_is_replanned(spec: ProtocolSpec) -> None:
    since = london(6, 2, 9)
    prefs = Preferences(LONDON)
    first = plan_with_outing(spec, TREATED, prefs, outdoors_since=since, now=since)
    later = plan_with_outing(
        spec, TREATED, prefs, outdoors_since=since, now=since + timedelta(hours=3)
    )
    assert [p for p in first if p.step_id == REAPPLY] == [p for p in later if p.step_id == REAPPLY]


# --- snoozes ---------------------------------------------------------------------------


def test_a_snooze_is_an_hour_later() -> None:
    now = london(6, 2, 9, 10)
    assert snooze_due(now, Preferences(LONDON)) == now + timedelta(hours=1)


@pytest.mark.parametrize(
    ("pressed", "quiet", "due"),
    [
        ((20, 30), ("21:00", "08:00"), (6, 3, 8, 0)),  # 21:30 would be quiet: next morning
        ((19, 59), ("21:00", "08:00"), (6, 2, 20, 59)),  # just before quiet hours: kept
        ((20, 0), ("21:00", "08:00"), (6, 3, 8, 0)),  # exactly at the start: deferred
        ((23, 45), ("22:30", "07:00"), (6, 3, 7, 0)),  # pressed inside quiet hours
        ((20, 30), ("00:00", "00:00"), (6, 2, 21, 30)),  # no quiet hours at all
    ],
)
def test_a_snooze_into_quiet_hours_waits_for_their_end(
    pressed: tuple[int, int], quiet: tuple[str, str], due: tuple[int, int, int, int]
) -> None:
    prefs = Preferences(
        LONDON, quiet_start=time.fromisoformat(quiet[0]), quiet_end=time.fromisoformat(quiet[1])
    )
    assert snooze_due(london(6, 2, *pressed), prefs) == london(*due)


def test_a_snooze_into_the_spring_forward_night_lands_at_local_eight() -> None:
    # Clocks jump 01:00 -> 02:00 on 29 March 2026 in London.
    pressed = london(3, 28, 20, 30)
    assert snooze_due(pressed, Preferences(LONDON)) == london(3, 29, 8)
    assert snooze_due(pressed, Preferences(LONDON)) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)


def test_snooze_keys_are_negative_and_one_per_reminder() -> None:
    assert snooze_occurrence(1) == -1
    assert snooze_occurrence(4242) == -4242
    with pytest.raises(ValueError, match="positive"):
        snooze_occurrence(0)


@given(
    outing_minutes=st.integers(min_value=0, max_value=60 * 24 * 400),
    quiet_start=st.times(),
    quiet_end=st.times(),
)
def test_planned_keys_are_never_negative_so_snoozes_never_collide(
    outing_minutes: int, quiet_start: time, quiet_end: time
) -> None:
    spec = BUNDLED
    prefs = Preferences(
        LONDON,
        quiet_start=quiet_start.replace(second=0, microsecond=0),
        quiet_end=quiet_end.replace(second=0, microsecond=0),
    )
    outing = TREATED + timedelta(minutes=outing_minutes)
    planned = plan(spec, TREATED, prefs, events={"outdoors": outing})
    assert all(item.occurrence >= 0 for item in planned)
