"""Telegram's sending limits, simulated so the bot meets 429s before production does.

Two limits apply to message-sending methods: a per-bot sliding one-second window (30 messages
a second) and a per-chat token bucket (a burst of 3, refilled at 1 message a second). Time comes
from an injectable monotonic clock so a simulated clock can drive it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_RETRY_AFTER = 3600.0
"""Cap on the advertised wait (a refill rate of 0 would otherwise mean forever)."""


@dataclass(frozen=True)
class Limits:
    """Which limits apply and how tight they are; ``enabled=False`` switches all off."""

    enabled: bool = True
    per_bot_per_second: int = 30
    per_chat_burst: int = 3
    per_chat_refill_per_second: float = 1.0

    @classmethod
    def off(cls) -> Limits:
        """Limits that never refuse anything."""
        return cls(enabled=False)


@dataclass
class _Bucket:
    """A per-chat token bucket: tokens left and when they were last topped up."""

    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Decides whether one more message may be sent now, and how long to wait if not."""

    limits: Limits
    monotonic: Callable[[], float] = time.monotonic
    _window: deque[float] = field(default_factory=deque)
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def retry_after(self, chat_id: int) -> int | None:
        """Seconds (whole, at least 1) to wait before sending to ``chat_id``; None if allowed."""
        if not self.limits.enabled:
            return None
        now = self.monotonic()
        waits = [self._window_wait(now), self._bucket_wait(chat_id, now)]
        wait = min(max(waits), MAX_RETRY_AFTER)
        if wait <= 0:
            return None
        return max(1, math.ceil(wait))

    def record(self, chat_id: int) -> None:
        """Count one message sent to ``chat_id`` against both limits."""
        if not self.limits.enabled:
            return
        now = self.monotonic()
        self._window.append(now)
        bucket = self._refilled(chat_id, now)
        bucket.tokens -= 1.0

    def _window_wait(self, now: float) -> float:
        """Seconds until the per-bot one-second window has room (0 if it has now)."""
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) < self.limits.per_bot_per_second:
            return 0.0
        return self._window[0] + 1.0 - now

    def _bucket_wait(self, chat_id: int, now: float) -> float:
        """Seconds until the chat's bucket holds a whole token (0 if it does now)."""
        bucket = self._refilled(chat_id, now)
        if bucket.tokens >= 1.0:
            return 0.0
        rate = self.limits.per_chat_refill_per_second
        return math.inf if rate <= 0 else (1.0 - bucket.tokens) / rate

    def _refilled(self, chat_id: int, now: float) -> _Bucket:
        """The chat's bucket, topped up for the time elapsed since it was last touched."""
        burst = float(self.limits.per_chat_burst)
        bucket = self._buckets.setdefault(chat_id, _Bucket(burst, now))
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(burst, bucket.tokens + elapsed * self.limits.per_chat_refill_per_second)
        bucket.updated = now
        return bucket
