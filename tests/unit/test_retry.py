"""Backoff before retrying a transient failure: exponential, capped, jittered, and finite."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedules.retry import BASE_DELAY, MAX_DELAY, backoff

attempts = st.integers(min_value=0, max_value=10_000)
jitters = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
MICROSECOND = timedelta(microseconds=1)
ENOUGH = 1_000_000  # a max_attempts that the attempts drawn never reach


def test_it_doubles_from_five_seconds_until_the_cap() -> None:
    delays = [backoff(n, max_attempts=ENOUGH, jitter=0.0) for n in range(1, 13)]
    seconds = [d.total_seconds() if d else None for d in delays]
    assert seconds == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 1800, 1800, 1800]


def test_the_first_try_waits_the_base_delay() -> None:
    assert backoff(0, max_attempts=3, jitter=0.0) == BASE_DELAY


def test_it_gives_up_once_the_attempts_are_spent() -> None:
    assert backoff(2, max_attempts=3, jitter=0.0) is not None
    assert backoff(3, max_attempts=3, jitter=0.0) is None
    assert backoff(4, max_attempts=3, jitter=0.0) is None


@pytest.mark.parametrize("jitter", [-0.1, 1.0, 1.5, float("nan")])
def test_it_refuses_jitter_outside_zero_to_one(jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        backoff(1, max_attempts=5, jitter=jitter)


@given(attempts, st.integers(min_value=-5, max_value=10_000), jitters)
def test_it_is_none_exactly_when_the_attempts_are_spent(
    done: int, max_attempts: int, jitter: float
) -> None:
    assert (backoff(done, max_attempts=max_attempts, jitter=jitter) is None) == (
        done >= max_attempts
    )


@given(attempts, jitters)
def test_the_jitter_adds_at_most_half_of_the_capped_delay(done: int, jitter: float) -> None:
    plain = backoff(done, max_attempts=ENOUGH, jitter=0.0)
    jittered = backoff(done, max_attempts=ENOUGH, jitter=jitter)
    assert plain is not None
    assert jittered is not None
    assert BASE_DELAY <= plain <= MAX_DELAY
    assert plain <= jittered <= plain * 1.5


@given(attempts, jitters)
def test_each_failure_doubles_the_wait_up_to_the_cap(done: int, jitter: float) -> None:
    now = backoff(done, max_attempts=ENOUGH, jitter=jitter)
    later = backoff(done + 1, max_attempts=ENOUGH, jitter=jitter)
    assert now is not None
    assert later is not None
    if done >= 1:
        expected = min(now * 2, MAX_DELAY * (1 + jitter / 2))
        assert abs(later - expected) <= MICROSECOND  # timedelta rounds float products
    else:
        assert later == now  # the first retry and the first try wait the same


def test_many_attempts_stay_at_the_cap_instead_of_overflowing() -> None:
    # 5 s * 2**59 is beyond what a timedelta can hold; the cap must win before that.
    assert backoff(60, max_attempts=ENOUGH, jitter=0.0) == MAX_DELAY
    assert backoff(10**6 - 1, max_attempts=ENOUGH, jitter=0.5) == MAX_DELAY * 1.25


def test_different_jitters_spread_retries_apart() -> None:
    low = backoff(3, max_attempts=ENOUGH, jitter=0.0)
    high = backoff(3, max_attempts=ENOUGH, jitter=0.9)
    assert low == timedelta(seconds=20)
    assert high == timedelta(seconds=29)
