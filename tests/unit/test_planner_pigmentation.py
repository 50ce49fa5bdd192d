"""Pigmentation watch: the planner adds the dark-patch steps only for patients who need them."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from schedules.planner import PatientState, PlannedReminder, Preferences, plan, step_applies
from schedules.protocol import ProtocolSpec, bundled_protocol, parse_protocol

BUNDLED = bundled_protocol()
WATCH_STEPS = {s.id for s in BUNDLED.steps if s.condition and s.condition.pigmentation}
ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"]


def keyed(reminders: list[PlannedReminder]) -> set[tuple[str, int, datetime]]:
    return {(r.step_id, r.occurrence, r.due_at) for r in reminders}


def test_the_bundled_protocol_has_watch_steps_and_keeps_dark_patches_for_everyone() -> None:
    assert {"pigmentation-watch", "pigmentation-check"} == WATCH_STEPS
    general = BUNDLED.step("dark-patches")
    assert general.condition is None
    for step_id in WATCH_STEPS:
        texts = BUNDLED.step(step_id).text
        assert set(texts) == {"en", "es", "de", "ru"}
        assert all("SPF" in text or "LSF" in text for text in texts.values())


def test_watch_steps_come_on_their_local_days_only_with_the_watch() -> None:
    treated = datetime(2026, 3, 26, 14, 0, tzinfo=UTC)
    without = plan(BUNDLED, treated, Preferences("Europe/London"))
    watched = plan(BUNDLED, treated, Preferences("Europe/London", pigmentation_watch=True))
    assert not {r.step_id for r in without} & WATCH_STEPS
    local = {
        r.step_id: r.due_at.astimezone(ZoneInfo("Europe/London")).replace(tzinfo=None)
        for r in watched
        if r.step_id in WATCH_STEPS
    }
    assert local == {
        "pigmentation-watch": datetime(2026, 3, 29, 17, 0),  # day 3, across the DST change
        "pigmentation-check": datetime(2026, 4, 5, 12, 0),  # day 10
    }
    assert "dark-patches" in {r.step_id for r in without}


@settings(max_examples=150, deadline=None)
@given(
    treated=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2036, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
    quiet_start=st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
    quiet_end=st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
    skin_type=st.sampled_from([None, "dry", "normal", "oily", "sensitive"]),
)
def test_the_watch_adds_exactly_the_pigmentation_steps_and_moves_nothing_else(
    treated: datetime, zone: str, quiet_start: time, quiet_end: time, skin_type: str | None
) -> None:
    base = Preferences(zone, quiet_start, quiet_end, skin_type=skin_type)
    watched = Preferences(zone, quiet_start, quiet_end, skin_type, pigmentation_watch=True)
    without, with_watch = (
        keyed(plan(BUNDLED, treated, base)),
        keyed(plan(BUNDLED, treated, watched)),
    )
    assert without <= with_watch
    added = with_watch - without
    assert {step_id for step_id, _, _ in added} <= WATCH_STEPS
    assert not {step_id for step_id, _, _ in without} & WATCH_STEPS
    if quiet_start == quiet_end:  # no quiet hours: nothing can push them out
        assert {step_id for step_id, _, _ in added} == WATCH_STEPS


def _tiny(condition: dict[str, Any]) -> ProtocolSpec:
    steps = [
        {"id": "only-watch", "after": "1h", "condition": condition},
        {"id": "everyone", "after": "2h"},
    ]
    data = {
        "slug": "t",
        "version": 1,
        "name": {"en": "T"},
        "locales": ["en"],
        "steps": [s | {"kind": "advice", "text": {"en": "Hi."}} for s in steps],
    }
    return parse_protocol(data, "tiny.yaml")


def test_pigmentation_false_means_only_patients_without_the_watch() -> None:
    spec = _tiny({"pigmentation": False})
    treated = datetime(2026, 5, 1, 10, tzinfo=UTC)
    plain = plan(spec, treated, Preferences("UTC"))
    watched = plan(spec, treated, Preferences("UTC", pigmentation_watch=True))
    assert [r.step_id for r in plain] == ["only-watch", "everyone"]
    assert [r.step_id for r in watched] == ["everyone"]
    assert watched[0].due_at == treated + timedelta(hours=2)


def test_pigmentation_is_checked_at_send_time_only_when_the_caller_knows_it() -> None:
    step = BUNDLED.step("pigmentation-watch")
    assert step_applies(step, PatientState())  # unknown here: the plan already decided
    assert step_applies(step, PatientState(pigmentation_watch=True))
    assert not step_applies(step, PatientState(pigmentation_watch=False))
    assert step_applies(BUNDLED.step("dark-patches"), PatientState(pigmentation_watch=False))
