"""Pure retry decisions: how long to wait before the next try, or give up."""

from __future__ import annotations

import math
from datetime import timedelta

BASE_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(minutes=30)
# Doublings after which the cap holds anyway; more would only overflow timedelta.
_MAX_DOUBLINGS = math.ceil(math.log2(MAX_DELAY / BASE_DELAY))


def backoff(attempts: int, *, max_attempts: int, jitter: float) -> timedelta | None:
    """Delay before try number ``attempts + 1``; None once ``max_attempts`` are spent.

    Exponential (5 s, 10 s, 20 s ... capped at 30 min) with ``jitter`` in [0, 1)
    adding up to half the delay again, so that many failed sends do not retry in step.
    """
    if not 0.0 <= jitter < 1.0:
        raise ValueError("jitter must be in [0, 1)")
    if attempts >= max_attempts:
        return None
    doublings = min(max(attempts - 1, 0), _MAX_DOUBLINGS)
    delay: timedelta = min(BASE_DELAY * 2**doublings, MAX_DELAY)
    return delay + delay * (jitter / 2)
