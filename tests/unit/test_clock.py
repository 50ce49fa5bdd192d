"""Where time comes from: a fixed clock only moves forward when told to, a fast clock runs
smoothly through speed changes and skips, and processes sharing an epoch share a time.

No test waits for time to pass: bounds on a fast clock come from the real time that did pass
between two readings, whatever it was."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedules.clock import FastClock, FixedClock, sleep_on

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
PARIS_SUMMER = timezone(timedelta(hours=2))


class NoOffset(tzinfo):
    """A tzinfo that knows no offset: Python treats such a datetime as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


# -- FixedClock --------------------------------------------------------------------------------

moves = st.lists(
    st.tuples(
        st.sampled_from(["advance", "set"]),
        st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=3)),
    ),
    max_size=40,
)


@given(moves)
def test_a_fixed_clock_never_runs_backwards(steps: list[tuple[str, timedelta]]) -> None:
    clock = FixedClock(START)
    for how, delta in steps:
        before_now, before_watch = clock.now(), clock.monotonic()
        target = before_now + delta
        backwards = delta < timedelta(0)
        if how == "advance" and backwards:
            with pytest.raises(ValueError, match="backwards"):
                clock.advance(delta)
        elif backwards:
            with pytest.raises(ValueError, match="backwards"):
                clock.set(target)
        elif how == "advance":
            assert clock.advance(delta) == target
        else:
            clock.set(target)
        assert clock.now() == (before_now if backwards else target)
        assert clock.now() >= before_now
        assert clock.monotonic() >= before_watch
        # The stopwatch is the same time, counted from the start.
        assert clock.monotonic() == pytest.approx((clock.now() - START).total_seconds())


@pytest.mark.parametrize(
    "moment",
    [datetime(2026, 3, 27, 9, 0), datetime(2026, 3, 27, 9, 0, tzinfo=NoOffset())],
    ids=["no tzinfo", "tzinfo without offset"],
)
def test_a_fixed_clock_rejects_naive_instants(moment: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(moment)
    clock = FixedClock(START)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(moment)
    assert clock.now() == START


def test_a_fixed_clock_speaks_utc_whatever_zone_it_is_given() -> None:
    clock = FixedClock(datetime(2026, 7, 1, 11, 0, tzinfo=PARIS_SUMMER))
    assert clock.now() == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)


def test_a_fixed_clock_reaches_the_future_only_when_moved() -> None:
    clock = FixedClock(START)
    later = START + timedelta(minutes=5)
    assert clock.real_seconds_until(START - timedelta(seconds=1)) == 0.0
    assert clock.real_seconds_until(later) == float("inf")
    clock.set(later)
    assert clock.real_seconds_until(later) == 0.0


async def test_sleeping_on_a_fixed_clock_moves_it_by_exactly_that_much() -> None:
    clock = FixedClock(START)
    await sleep_on(clock, 2.5)
    assert clock.monotonic() == 2.5
    await sleep_on(clock, 0)
    await sleep_on(clock, -1)  # a deadline already passed: no wait, and never backwards
    assert clock.now() == START + timedelta(seconds=2.5)


# -- FastClock ---------------------------------------------------------------------------------


def test_a_fast_clock_starts_at_its_start_and_runs_at_its_speed() -> None:
    real_before = time.monotonic()
    clock = FastClock(START, 1000.0)
    shown = clock.now()
    real_after = time.monotonic()
    assert START <= shown <= START + timedelta(seconds=(real_after - real_before) * 1000.0)


@pytest.mark.parametrize(("first", "second"), [(1000.0, 1.0), (1.0, 5000.0), (3.0, 3.0)])
def test_changing_speed_does_not_make_time_jump(first: float, second: float) -> None:
    clock = FastClock(START, first)
    real_before = time.monotonic()
    before = clock.monotonic()
    clock.set_speed(second)
    after = clock.monotonic()
    real_after = time.monotonic()
    assert clock.speed == second
    # Only the real time that passed between the readings, at the faster speed, may show.
    assert before <= after <= before + (real_after - real_before) * max(first, second)


def test_a_fast_clock_refuses_a_speed_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        FastClock(START, 0.0)
    clock = FastClock(START, 2.0)
    with pytest.raises(ValueError, match="positive"):
        clock.set_speed(-1.0)
    assert clock.speed == 2.0


def test_skip_to_moves_forward_only() -> None:
    clock = FastClock(START, 10.0)
    target = START + timedelta(hours=8)
    real_before = time.monotonic()
    clock.skip_to(target)
    shown = clock.now()
    real_after = time.monotonic()
    assert target <= shown <= target + timedelta(seconds=(real_after - real_before) * 10.0)

    watch = clock.monotonic()
    clock.skip_to(START)  # the past: nothing happens
    assert clock.monotonic() >= watch
    assert clock.now() >= shown

    with pytest.raises(ValueError, match="timezone-aware"):
        clock.skip_to(datetime(2030, 1, 1))


def test_a_skip_survives_a_speed_change() -> None:
    clock = FastClock(START, 50.0)
    clock.skip_to(START + timedelta(days=1))
    clock.set_speed(1.0)
    assert clock.now() >= START + timedelta(days=1)


def test_a_fast_clock_waits_real_seconds_scaled_by_its_speed() -> None:
    clock = FastClock(START, 100.0)
    assert clock.real_seconds_until(clock.now() - timedelta(seconds=1)) == 0.0
    real_before = time.monotonic()
    target = clock.now() + timedelta(minutes=10)
    wait = clock.real_seconds_until(target)
    real_after = time.monotonic()
    # 600 simulated seconds at 100x are six real ones, less whatever passed meanwhile.
    assert 6.0 - (real_after - real_before) <= wait <= 6.0


def test_two_fast_clocks_on_one_epoch_agree() -> None:
    epoch = time.time() - 120.0  # the shared simulated time began two real minutes ago
    real_before = time.time()
    one = FastClock(START, 60.0, real_epoch=epoch)
    two = FastClock(START, 60.0, real_epoch=epoch)
    first, second = one.now(), two.now()
    real_after = time.time()
    apart = abs((first - second).total_seconds())
    assert apart <= (real_after - real_before) * 60.0 + 2e-6  # each reading rounds to 1 µs
    # Both count from the epoch, not from when they were made: two real minutes at 60x.
    assert first >= START + timedelta(hours=2)


async def test_the_shortest_sleep_still_moves_a_fixed_clock() -> None:
    # A FixedClock counts microseconds; a wait of less than half of one used to be lost,
    # leaving a "sleep until the deadline" loop spinning for ever.
    clock = FixedClock(START)
    await sleep_on(clock, 4e-16)
    assert clock.now() > START
