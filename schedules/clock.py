"""Where time comes from. Everything that needs "now" takes a Clock.

* ``SystemClock``: the real wall clock, for production.
* ``FixedClock``: stands still until a test moves it.
* ``FastClock``: runs ``speed`` times faster than real time from a chosen start,
  for demos and soak tests (``--clock-speed N``).

``monotonic()`` is the clock's own stopwatch: rate limiters use it so that, in a
fast world, Telegram's per-second limits run fast too.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on this clock's stopwatch (only differences matter)."""
        ...

    def real_seconds_until(self, when: datetime) -> float:
        """How many real seconds until this clock shows ``when`` (0 if past)."""
        ...


def _require_aware(moment: datetime) -> datetime:
    if moment.utcoffset() is None:  # no tzinfo, or one that gives no offset: naive either way
        raise ValueError("clock instants must be timezone-aware")
    return moment.astimezone(UTC)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def real_seconds_until(self, when: datetime) -> float:
        return max(0.0, (when - self.now()).total_seconds())


class FixedClock:
    """A clock that moves only when told to; its stopwatch follows it."""

    def __init__(self, start: datetime) -> None:
        self._now = _require_aware(start)
        self._origin = self._now

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return (self._now - self._origin).total_seconds()

    def real_seconds_until(self, when: datetime) -> float:
        # A fixed clock never reaches a future instant by itself; the test
        # advances it and wakes whoever waits. Report "not yet" as a long wait.
        return 0.0 if when <= self._now else float("inf")

    def set(self, moment: datetime) -> None:
        moment = _require_aware(moment)
        if moment < self._now:
            raise ValueError("a FixedClock does not run backwards")
        self._now = moment

    def advance(self, delta: timedelta) -> datetime:
        self.set(self._now + delta)
        return self._now


class FastClock:
    """Simulated time that starts at ``start`` and runs ``speed`` times faster.

    The speed can change on the way (a demo enrols at real speed, then lets weeks
    pass in seconds); the clock never jumps when it does.
    """

    def __init__(self, start: datetime, speed: float, *, real_epoch: float | None = None) -> None:
        """``real_epoch`` (a Unix time) lets several processes share one simulated time:
        each computes ``start + (time.time() - real_epoch) * speed``."""
        self._start = _require_aware(start)
        self._elapsed_before = 0.0
        self._real_now = time.monotonic if real_epoch is None else time.time
        self._real_origin = self._real_now() if real_epoch is None else real_epoch
        self._speed = _positive(speed)

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        speed = _positive(speed)
        real = self._real_now()  # read once: time between two reads would be lost
        self._elapsed_before += (real - self._real_origin) * self._speed
        self._real_origin = real
        self._speed = speed

    def skip_to(self, moment: datetime) -> None:
        """Jump ahead to ``moment`` (a demo skipping a quiet night); never backwards."""
        ahead = (_require_aware(moment) - self.now()).total_seconds()
        if ahead > 0:
            self._elapsed_before += ahead

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    def monotonic(self) -> float:
        return self._elapsed_before + (self._real_now() - self._real_origin) * self._speed

    def real_seconds_until(self, when: datetime) -> float:
        return max(0.0, (when - self.now()).total_seconds() / self._speed)


def _positive(speed: float) -> float:
    if speed <= 0:
        raise ValueError("clock speed must be positive")
    return speed


async def sleep_on(clock: Clock, seconds: float) -> None:
    """Wait ``seconds`` of the clock's time: real, scaled, or (fixed) by moving it."""
    if seconds <= 0:
        await asyncio.sleep(0)
    elif isinstance(clock, FixedClock):
        # A FixedClock counts whole microseconds. A wait shorter than half of one must still
        # move it, or a "sleep until the deadline" loop would spin forever.
        clock.advance(timedelta(microseconds=max(1, round(seconds * 1e6))))
        await asyncio.sleep(0)
    elif isinstance(clock, FastClock):
        await asyncio.sleep(seconds / clock.speed)
    else:
        await asyncio.sleep(seconds)
