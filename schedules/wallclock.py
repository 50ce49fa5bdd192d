"""Local wall-clock time <-> UTC instants, with DST gaps and folds decided explicitly.

* A wall time inside a spring-forward gap does not exist; it becomes the first
  real instant after the gap, i.e. the moment of the transition. 01:30 on
  2026-03-29 in Europe/London (clocks jump 01:00 -> 02:00) is 02:00 BST = 01:00 UTC.
* A wall time inside a fall-back fold happens twice; ``fold=0`` (the default) takes
  the first occurrence. 01:30 on 2026-10-25 in Europe/London is 01:30 BST = 00:30 UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schedules.errors import InputError

_NOT_PATIENT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``InputError`` if there is no such zone."""
    if name in _NOT_PATIENT_ZONES:
        raise InputError(f"unknown timezone {name!r}: expected an IANA name like Europe/London")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        message = f"unknown timezone {name!r}: expected an IANA name like Europe/London"
        raise InputError(message) from error


def require_aware(moment: datetime, what: str) -> datetime:
    """``moment`` as UTC; ``ValueError`` if it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def local_time(due_at: datetime, timezone: str) -> datetime:
    """The aware local wall-clock time of an instant in an IANA timezone."""
    return require_aware(due_at, "due_at").astimezone(zone(timezone))


def wall_to_utc(wall: datetime, tz: ZoneInfo, *, fold: int = 0) -> datetime:
    """The UTC instant at naive local ``wall`` time in ``tz``.

    In a gap: the transition instant (first valid instant after the gap). In a
    fold: ``fold=0`` is the first occurrence, ``fold=1`` the second.
    """
    if wall.tzinfo is not None:
        raise ValueError("wall_to_utc takes a naive local wall-clock time")
    candidate = wall.replace(tzinfo=tz, fold=fold)
    instant = candidate.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant
    return _gap_end(wall, tz)


def _gap_end(wall: datetime, tz: ZoneInfo) -> datetime:
    """The transition instant of the gap that swallows ``wall`` (to the second)."""
    # Read with the offset after the jump, ``wall`` lands before the transition;
    # read with the offset before it, on or after. Bisect whole seconds in between.
    readings = [wall.replace(tzinfo=tz, fold=f).astimezone(UTC).timestamp() for f in (0, 1)]
    low, high = math.floor(min(readings)), math.ceil(max(readings))
    offset_before = _offset_at(low, tz)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(middle, tz) == offset_before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _offset_at(timestamp: int, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(tz).utcoffset()
