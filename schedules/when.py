"""Read the treatment date and time a patient types, in the patient's own timezone.

``parse_treatment_time(text, now_local)`` understands, case-insensitively:

* ``now``, ``just now``; ``3 hours ago``, ``45 min ago``, ``an hour ago``, ``half an hour ago``
* ``today``, ``yesterday``, ``day before yesterday``, ``2 days ago``, ``1 week ago``
* dates, **day first** (European): ``28.03``, ``28/03``, ``28-03``, ``28.03.2026``, ``28.03.26``;
  year first (ISO): ``2026-03-28``; month names: ``28 March``, ``28th of mar 2026``,
  ``March 28 2026``, ``Mar 28, 2026``
* times: ``14:00``, ``14.00``, ``14h30``, ``14h``, ``2pm``, ``2:30 pm``, ``2.30 p.m.``, ``noon``
* a date and a time in either order, optionally joined by ``at``/``@``/``,``/``T``:
  ``yesterday at 17:00``, ``28.03 14:00``, ``2026-03-28T14:00``, ``5pm yesterday``

Rules:

* A time alone means today. A date alone means 12:00 that day (``time_given`` is False), or
  the current moment if that is today and 12:00 has not come yet.
* A bare ``A.B`` that is a valid day.month is a date (``12.03`` is 12 March); otherwise it is
  read as a time (``14.00``, ``9.30``). Write ``12:03`` for a time.
* A date without a year is the most recent such date that is not after today.
* Two-digit years mean 20xx.
* Wall-clock times that fall in a DST gap or fold are built with zoneinfo semantics (fold=0,
  i.e. the offset in force *before* the transition) and then normalised through UTC, so the
  result is always a real instant: 01:30 on the spring-forward night in London becomes 02:30 BST.
* Accepted results lie between 365 days ago and 30 minutes from now.

Anything else raises ``InputError`` with a message meant for the patient.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schedules.errors import InputError
from schedules.when_words import to_english

MAX_INPUT_CHARS = 64
MAX_ECHO_CHARS = 30
FUTURE_TOLERANCE = timedelta(minutes=30)
MAX_AGE = timedelta(days=365)
ASSUMED_TIME = time(12, 0)
EXAMPLES = 'Try "today 14:00", "yesterday 5pm" or "28.03 14:00".'

_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTHS = {name.lower(): number for number, name in enumerate(_MONTH_NAMES, start=1)}
_MONTHS |= {name[:3]: number for name, number in list(_MONTHS.items())}
_MONTHS["sept"] = 9

_FILLER_WORDS = frozenset({"the", "at", "on", "around", "about", "approx", "approximately", "ca"})
_STRIP_CHARS = " .,;:!?'\"()[]{}«»“”‘’„"
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−", "-"))
_FLAGS = re.ASCII

_NOW = re.compile(r"(?:just |right )?now", _FLAGS)
_COUNT = r"(?P<n>\d{1,4}|an?|one)"
_CLOCK_AGO = re.compile(
    _COUNT + r" ?(?P<unit>minutes?|mins?|m|hours?|hrs?|h) ago|(?P<half>half an hour ago)", _FLAGS
)
_DAYS_AGO = re.compile(_COUNT + r" ?(?P<unit>days?|d|weeks?|wks?|w) ago", _FLAGS)
_DAY_WORDS = {"today": 0, "yesterday": 1, "day before yesterday": 2}

_DAY_MONTH = re.compile(r"(?P<d>\d{1,2})(?P<sep>[./-])(?P<m>\d{1,2})", _FLAGS)
_DAY_MONTH_YEAR = re.compile(
    r"(?P<d>\d{1,2})(?P<sep>[./-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})", _FLAGS
)
_YEAR_MONTH_DAY = re.compile(
    r"(?P<y>\d{4})(?P<sep>[./-])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})", _FLAGS
)
_ORDINAL = r"(?:st|nd|rd|th)?"
_DAY_NAME = re.compile(
    r"(?P<d>\d{1,2})" + _ORDINAL + r" (?:of )?(?P<name>[a-z]+)\.?(?: (?P<y>\d{4}))?", _FLAGS
)
_NAME_DAY = re.compile(
    r"(?P<name>[a-z]+)\.? (?P<d>\d{1,2})" + _ORDINAL + r"(?: (?P<y>\d{4}))?", _FLAGS
)

_TIME_12H = re.compile(r"(?P<h>\d{1,2})(?:[:.h](?P<m>\d{2}))? ?(?P<ampm>[ap])\.?m\.?", _FLAGS)
_TIME_24H = re.compile(
    r"(?P<h>\d{1,2})(?:[:h](?P<m>\d{2})(?::(?P<s>\d{2}))?|\.(?P<m2>\d{2}))", _FLAGS
)
_TIME_HOUR = re.compile(r"(?P<h>\d{1,2})h", _FLAGS)
_TIME_WORDS = {"noon": time(12, 0), "midday": time(12, 0)}


@dataclass(frozen=True)
class ParsedWhen:
    """A treatment moment as the patient gave it."""

    local: datetime  # aware, in the patient's timezone
    time_given: bool  # False when only a date was given and the time was assumed


class _OutOfRange(InputError):
    """A well-formed date/time that is in the future or too long ago."""


def parse_treatment_time(text: str, now_local: datetime) -> ParsedWhen:
    """Read ``text`` as a past treatment moment relative to the aware ``now_local``.

    Raises ``InputError`` (friendly message) for anything unreadable or out of range, and
    ``ValueError`` only if ``now_local`` itself is naive (a programming error).
    """
    zone = _zone_of(now_local)
    now = now_local.astimezone(zone)
    raw = text.strip() if isinstance(text, str) else ""
    if not raw:
        raise InputError(f"Please tell me when your treatment was. {EXAMPLES}", reason="empty")
    if len(raw) > MAX_INPUT_CHARS:
        raise InputError(
            f"That's too long for a date, please keep it short. {EXAMPLES}", reason="too_long"
        )
    normal = _normalise(raw)
    if len(normal) > MAX_INPUT_CHARS:
        raise InputError(
            f"That's too long for a date, please keep it short. {EXAMPLES}", reason="too_long"
        )
    tokens = [token for token in normal.split() if token not in _FILLER_WORDS]
    if not tokens:
        raise _unreadable(raw)
    return _parse_tokens(tokens, raw, now)


def _zone_of(now_local: datetime) -> tzinfo:
    """The zone to build local times in; pytz zones are swapped for their zoneinfo twin."""
    zone = now_local.tzinfo
    if zone is None or zone.utcoffset(now_local) is None:
        raise ValueError("now_local must be timezone-aware")
    name = getattr(zone, "zone", None)
    if isinstance(name, str):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return zone
    return zone


def _normalise(raw: str) -> str:
    """Lower-case, ASCII digits, plain dashes, single spaces, no surrounding punctuation."""
    text = unicodedata.normalize("NFKC", raw).translate(_DASHES).casefold()
    text = "".join(_plain_char(char) for char in text)
    text = to_english(text)
    text = re.sub(r"(\d{4}-\d{1,2}-\d{1,2})t(?=\d)", r"\1 ", text)
    text = text.replace(",", " ").replace("@", " ")
    return " ".join(text.split()).strip(_STRIP_CHARS)


def _plain_char(char: str) -> str:
    """Map any decimal digit to ASCII and control/space characters to a space."""
    if char.isdecimal():
        return str(unicodedata.decimal(char))
    if unicodedata.category(char)[0] in "CZ":
        return " "
    return char


def _parse_tokens(tokens: list[str], raw: str, now: datetime) -> ParsedWhen:
    """Try every reading of the tokens; the first in-range one wins."""
    whole = " ".join(tokens)
    instant = _parse_instant(whole, now)
    if instant is not None:
        return _checked(ParsedWhen(instant, time_given=True), now, raw)
    errors: list[InputError] = []
    for date_text, time_text in _splits(tokens):
        try:
            parsed = _attempt(date_text, time_text, now)
        except InputError as error:
            errors.append(error)
            continue
        if parsed is not None:
            return _checked(parsed, now, raw)
    raise _best_error(errors, raw)


def _checked(parsed: ParsedWhen, now: datetime, shown: str) -> ParsedWhen:
    """Return ``parsed`` if it lies within the accepted window, else raise ``_OutOfRange``."""
    ahead = parsed.local.astimezone(UTC) - now.astimezone(UTC)
    if ahead > FUTURE_TOLERANCE:
        raise _OutOfRange(
            f'I read "{_echo(shown)}" as {_describe(parsed.local)}, which is still in the '
            f"future. Please tell me when the treatment happened. {EXAMPLES}",
            reason="future",
            text=_echo(shown),
            when=parsed.local,
        )
    if -ahead > MAX_AGE:
        raise _OutOfRange(
            f'I read "{_echo(shown)}" as {_describe(parsed.local)}, which is more than a year '
            f"ago. Please give the date of your recent treatment. {EXAMPLES}",
            reason="too_old",
            text=_echo(shown),
            when=parsed.local,
        )
    return parsed


def _best_error(errors: list[InputError], raw: str) -> InputError:
    """Prefer "out of range" over "malformed" over "unreadable"."""
    for error in errors:
        if isinstance(error, _OutOfRange):
            return error
    return errors[0] if errors else _unreadable(raw)


def _unreadable(raw: str) -> InputError:
    return InputError(
        f'I couldn\'t read "{_echo(raw)}" as a date. {EXAMPLES}',
        reason="unreadable",
        text=_echo(raw),
    )


def _splits(tokens: list[str]) -> Iterator[tuple[str, str]]:
    """(date part, time part) candidates: date alone, time alone, then every split both ways."""
    whole = " ".join(tokens)
    yield whole, ""
    yield "", whole
    for cut in range(1, len(tokens)):
        left, right = " ".join(tokens[:cut]), " ".join(tokens[cut:])
        yield left, right
        yield right, left


def _attempt(date_text: str, time_text: str, now: datetime) -> ParsedWhen | None:
    """One reading; None when a part does not look like a date/time at all."""
    today = now.date()
    day = _parse_date(date_text, today) if date_text else today
    clock = _parse_time(time_text) if time_text else None
    if day is None or (time_text and clock is None):
        return None
    if clock is not None:
        return ParsedWhen(_localise(day, clock, now.tzinfo), time_given=True)
    local = _localise(day, ASSUMED_TIME, now.tzinfo)
    if day == today and local > now:
        local = now
    return ParsedWhen(local, time_given=False)


def _localise(day: date, clock: time, zone: tzinfo | None) -> datetime:
    """Wall-clock time in ``zone`` (fold=0), normalised to a real instant via UTC."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC).astimezone(zone)


def _parse_instant(text: str, now: datetime) -> datetime | None:
    """``now`` and "N minutes/hours ago": exact instants."""
    if _NOW.fullmatch(text):
        return now
    match = _CLOCK_AGO.fullmatch(text)
    if match is None:
        return None
    if match["half"]:
        delta = timedelta(minutes=30)
    elif match["unit"].startswith("h"):
        delta = timedelta(hours=_count(match["n"]))
    else:
        delta = timedelta(minutes=_count(match["n"]))
    return (now.astimezone(UTC) - delta).astimezone(now.tzinfo)


def _count(word: str) -> int:
    """A small count: digits, "a", "an" or "one"."""
    return int(word) if word.isdigit() else 1


def _parse_date(text: str, today: date) -> date | None:
    """A calendar date, or None if ``text`` does not look like one."""
    if text in _DAY_WORDS:
        return today - timedelta(days=_DAY_WORDS[text])
    if match := _DAYS_AGO.fullmatch(text):
        days = _count(match["n"]) * (7 if match["unit"].startswith("w") else 1)
        return today - timedelta(days=days)
    if match := _DAY_MONTH_YEAR.fullmatch(text) or _YEAR_MONTH_DAY.fullmatch(text):
        return _full_date(_year(match["y"]), int(match["m"]), int(match["d"]), today, text)
    if match := _DAY_MONTH.fullmatch(text):
        return _recent_date(int(match["m"]), int(match["d"]), today, text)
    if match := _DAY_NAME.fullmatch(text) or _NAME_DAY.fullmatch(text):
        return _named_date(match, today, text)
    return None


def _named_date(match: re.Match[str], today: date, text: str) -> date | None:
    """A date written with a month name; None if the word is not a month."""
    month = _MONTHS.get(match["name"])
    if month is None:
        return None
    day = int(match["d"])
    if match["y"]:
        return _full_date(int(match["y"]), month, day, today, text)
    return _recent_date(month, day, today, text)


def _year(digits: str) -> int:
    """Four digits as is; two digits mean 20xx."""
    return 2000 + int(digits) if len(digits) == 2 else int(digits)


def _full_date(year: int, month: int, day: int, today: date, text: str) -> date:
    """A date with an explicit year; far-off years are out of range, not errors of form."""
    result = _real_date(year, month, day, text)
    if abs(year - today.year) > 1:
        when = f"{day} {_MONTH_NAMES[month - 1]} {year}"
        raise _OutOfRange(
            f'I read "{_echo(text)}" as {when}, which is not within the past year. {EXAMPLES}',
            reason="too_old",
            text=_echo(text),
            when=datetime.combine(result, ASSUMED_TIME),
        )
    return result


def _recent_date(month: int, day: int, today: date, text: str) -> date:
    """The most recent ``day``.``month`` that is not after ``today``."""
    _real_date(2000, month, day, text)  # 2000 is a leap year: rejects only impossible dates
    for year in range(today.year, today.year - 9, -1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    raise _no_such_date(text)


def _real_date(year: int, month: int, day: int, text: str) -> date:
    """``date(year, month, day)`` or a friendly error naming the impossible date."""
    try:
        return date(year, month, day)
    except ValueError:
        raise _no_such_date(text) from None


def _no_such_date(text: str) -> InputError:
    return InputError(
        f'There is no date "{_echo(text)}". Dates are day first, like 28.03 for 28 March. '
        f"{EXAMPLES}",
        reason="no_such_date",
        text=_echo(text),
    )


def _parse_time(text: str) -> time | None:
    """A time of day, or None if ``text`` does not look like one."""
    if text in _TIME_WORDS:
        return _TIME_WORDS[text]
    if match := _TIME_12H.fullmatch(text):
        hour, minute = int(match["h"]), int(match["m"] or 0)
        if not 1 <= hour <= 12 or minute > 59:
            raise _no_such_time(text)
        return time(hour % 12 + (12 if match["ampm"] == "p" else 0), minute)
    match = _TIME_24H.fullmatch(text) or _TIME_HOUR.fullmatch(text)
    if match is None:
        return None
    groups = match.groupdict()
    hour, minute = int(match["h"]), int(groups.get("m") or groups.get("m2") or 0)
    if hour > 23 or minute > 59 or int(groups.get("s") or 0) > 59:
        raise _no_such_time(text)
    return time(hour, minute)


def _no_such_time(text: str) -> InputError:
    return InputError(
        f'"{_echo(text)}" isn\'t a time of day. {EXAMPLES}', reason="no_such_time", text=_echo(text)
    )


def _describe(moment: datetime) -> str:
    """Locale-independent "28 March 2026, 14:00"."""
    month = _MONTH_NAMES[moment.month - 1]
    return f"{moment.day} {month} {moment.year}, {moment.hour:02d}:{moment.minute:02d}"


def _echo(text: str) -> str:
    """The user's text made safe to quote back: printable, no quotes, at most 30 characters."""
    cleaned = "".join(
        " " if unicodedata.category(char)[0] in "CZ" else char
        for char in text[: MAX_ECHO_CHARS * 4]
    )
    cleaned = " ".join(cleaned.replace('"', "'").split())
    if len(cleaned) > MAX_ECHO_CHARS:
        return cleaned[: MAX_ECHO_CHARS - 1] + "…"
    return cleaned


def parse_treatment_time_on(text: str, now_local: datetime, day: str | None) -> ParsedWhen:
    """As ``parse_treatment_time``, after the patient already picked ``day`` ("today" or
    "yesterday"): a bare time like "14:30" means that day, a full answer stands as typed."""
    if day:
        try:
            return parse_treatment_time(f"{day} {text}", now_local)
        except InputError:
            pass  # the patient typed a whole date after all; read it as it is
    return parse_treatment_time(text, now_local)
