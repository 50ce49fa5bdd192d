"""Dates and times as a patient reads them: their zone, their language (Babel)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime


def local_moment(moment: datetime, timezone: str, locale: str) -> str:
    """e.g. "Sat 28 Mar, 14:00" in English, "sáb 28 mar, 14:00" in Spanish."""
    return format_datetime(moment, "EEE d MMM, HH:mm", tzinfo=ZoneInfo(timezone), locale=locale)


def local_clock(moment: datetime, timezone: str, locale: str) -> str:
    """e.g. "14:05"."""
    return format_datetime(moment, "HH:mm", tzinfo=ZoneInfo(timezone), locale=locale)


def country_name(code: str, locale: str) -> str:
    """A country's name in the patient's language (CLDR via Babel), e.g. "DE" → "Alemania"."""
    name = Locale.parse(locale).territories.get(code.upper())
    return str(name) if name else code.upper()
