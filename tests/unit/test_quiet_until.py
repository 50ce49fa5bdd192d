"""quiet_until: a late reminder never breaks the patient's quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from schedules.planner import Preferences, quiet_until

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kathmandu", "UTC"]


def test_inside_quiet_hours_it_returns_their_end_in_utc() -> None:
    prefs = Preferences(timezone="Europe/Madrid")
    two_am = datetime(2026, 11, 25, 1, 19, tzinfo=UTC)  # 02:19 in Madrid
    assert quiet_until(two_am, prefs) == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # 08:00 local


def test_outside_quiet_hours_it_returns_none() -> None:
    prefs = Preferences(timezone="Europe/Madrid")
    assert quiet_until(datetime(2026, 11, 25, 11, 0, tzinfo=UTC), prefs) is None


def test_evening_quiet_hours_end_next_morning() -> None:
    prefs = Preferences(timezone="America/New_York", quiet_start=time(22), quiet_end=time(7))
    late_evening = datetime(2026, 3, 8, 3, 30, tzinfo=UTC)  # 22:30 EST on 7 March
    # The night DST starts: 07:00 EDT on 8 March is 11:00 UTC.
    assert quiet_until(late_evening, prefs) == datetime(2026, 3, 8, 11, 0, tzinfo=UTC)


@given(
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(ZONES),
    st.integers(0, 23),
    st.integers(0, 23),
)
def test_the_answer_is_always_outside_quiet_hours_and_later(
    now: datetime, zone: str, start_hour: int, end_hour: int
) -> None:
    prefs = Preferences(timezone=zone, quiet_start=time(start_hour), quiet_end=time(end_hour))
    until = quiet_until(now, prefs)
    local_now = now.astimezone(ZoneInfo(zone)).time()
    quiet_now = start_hour != end_hour and (
        time(start_hour) <= local_now < time(end_hour)
        if start_hour < end_hour
        else local_now >= time(start_hour) or local_now < time(end_hour)
    )
    assert (until is not None) == quiet_now
    if until is not None:
        assert now < until <= now + timedelta(hours=25)
        local = until.astimezone(ZoneInfo(zone)).time()
        assert not (
            time(start_hour) <= local < time(end_hour)
            if start_hour < end_hour
            else local >= time(start_hour) or local < time(end_hour)
        )
