"""The small value types protocol files are written in: durations and local times.

Durations look like ``30m``, ``24h``, ``3d`` or ``1d12h``; local times like ``09:00``.
Both parse strictly, raise pydantic errors that say what was expected, and dump
back to the same compact text so a protocol survives a JSON round trip.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?$")
_LOCAL_TIME = re.compile(r"^(?P<h>\d{2}):(?P<m>\d{2})$")


def _escaped(character: str) -> str:
    return character.encode("unicode_escape").decode("ascii")


def show(value: Any) -> str:
    """A short, quoted rendering of a bad input for an error message."""
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        # Control characters escaped: one problem stays one line ("\x1e" splits lines).
        visible = "".join(c if c.isprintable() else _escaped(c) for c in text)
        return '"' + visible.replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


def invalid(kind: str, message: str) -> PydanticCustomError:
    """A pydantic error whose text is ``message`` verbatim (braces and all)."""
    return PydanticCustomError(f"protocol_{kind}", "{detail}", {"detail": message})


def parse_duration(value: Any) -> timedelta:
    """``"1d12h"`` -> ``timedelta(days=1, hours=12)``; days here are exactly 24 hours."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not value or (match := _DURATION.match(value)) is None:
        raise invalid("duration", f"expected a duration like 30m, 24h or 3d, got {show(value)}")
    parts = {unit: int(amount) for unit, amount in match.groupdict(default="0").items()}
    return timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"])


def format_duration(value: timedelta) -> str:
    """The compact text of a whole-minute duration, e.g. ``1d12h``; zero is ``0m``."""
    minutes = int(value.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)
    return text or "0m"


def parse_local_time(value: Any) -> time:
    """``"09:00"`` -> ``time(9, 0)``; anything but a 24-hour HH:MM is refused."""
    if isinstance(value, time):
        return value
    match = _LOCAL_TIME.match(value) if isinstance(value, str) else None
    if match is None or int(match["h"]) > 23 or int(match["m"]) > 59:
        raise invalid("local_time", f"expected HH:MM, got {show(value)}")
    return time(int(match["h"]), int(match["m"]))


def format_local_time(value: time) -> str:
    return value.strftime("%H:%M")


def parse_local_times(value: Any) -> tuple[time, ...]:
    """One ``"HH:MM"`` or a list of them, as a sorted tuple without repeats."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    if not items:
        raise invalid("local_time", "expected at least one HH:MM time")
    times = [parse_local_time(item) for item in items]
    if len(set(times)) != len(times):
        raise invalid("local_time", "the same time is listed twice")
    return tuple(sorted(times))


def _format_local_times(values: tuple[time, ...]) -> list[str]:
    return [format_local_time(value) for value in values]


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
LocalTime = Annotated[
    time,
    BeforeValidator(parse_local_time),
    PlainSerializer(format_local_time, return_type=str),
]
LocalTimes = Annotated[
    tuple[time, ...],
    BeforeValidator(parse_local_times),
    PlainSerializer(_format_local_times, return_type=list[str]),
]
