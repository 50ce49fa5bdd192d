"""Protocol step -> the words and buttons a patient sees. Pure: data in, text out.

The locale falls back to the protocol's base locale. ``{placeholders}`` are filled
from the context; a missing value becomes a neutral phrase ("your clinic"), never
an error, so a reminder always goes out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from schedules.protocol import PLACEHOLDERS, ProtocolSpec

TELEGRAM_TEXT_LIMIT = 4096
MAX_VALUE_CHARS = 200
# The operator's clinic before it is given a name (AFTERCARE_CLINIC_NAME's default).
UNNAMED_CLINIC = "your clinic"

NEUTRAL_VALUES: Mapping[str, Mapping[str, str]] = {
    "clinic_name": {
        "en": "your clinic",
        "es": "tu clínica",
        "de": "Ihre Klinik",
        "ru": "ваша клиника",
    },
    "next_session_weeks": {
        "en": "a few",
        "es": "unas",
        "de": "einige",
        "ru": "несколько",
    },
    "session_number": {
        "en": "this",
        "es": "esta",
        "de": "diese",
        "ru": "эта",
    },
    "course_sessions": {
        "en": "several",
        "es": "varias",
        "de": "mehreren",
        "ru": "нескольких",
    },
}
"""What a placeholder says when its value is unknown, per locale (English as last resort)."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Choice:
    """One answer button of a check-in."""

    answer_id: str
    label: str


@dataclass(frozen=True)
class Rendered:
    """A step's text in one locale, with its answer buttons (empty unless a check-in)."""

    text: str
    choices: tuple[Choice, ...]


def render_step(
    protocol: ProtocolSpec,
    step_id: str,
    locale: str,
    context: Mapping[str, str] | None = None,
    *,
    course: str | None = None,
    session: int = 1,
) -> Rendered:
    """The step's words in ``locale`` (or the protocol's base locale) with placeholders filled.

    ``course`` and ``session`` are the treatment's course (None: the protocol's default)
    and its session number; the course placeholders follow them.
    """
    step = protocol.step(step_id)
    chosen = protocol.resolve_locale(locale)
    values = _values(protocol, chosen, context or {}, _course_values(protocol, course, session))
    text = _fill(_in_locale(step.text, chosen, protocol.base_locale), values)
    choices = tuple(
        Choice(answer.id, _fill(_in_locale(answer.text, chosen, protocol.base_locale), values))
        for answer in step.answers or ()
    )
    return Rendered(text=_clip(text), choices=choices)


def clinic_context(name: str | None) -> dict[str, str]:
    """The values a clinic puts into its patients' messages: its name, unless it has none
    (then the neutral words, in the patient's language, fill in)."""
    if not name or name.strip().casefold() == UNNAMED_CLINIC:
        return {}
    return {"clinic_name": name}


def _in_locale(texts: Mapping[str, str], locale: str, base: str) -> str:
    return texts.get(locale) or texts[base]


def _course_values(protocol: ProtocolSpec, course_id: str | None, session: int) -> dict[str, str]:
    """The course placeholders from the treatment's course in the protocol data."""
    found = protocol.course_for(course_id)
    if found is None:
        return {}
    _, course = found
    low, high = course.interval_weeks
    derived = {
        "next_session_weeks": str(low) if low == high else f"{low}–{high}",
        "session_number": str(max(session, 1)),
    }
    if course.sessions is not None:
        derived["course_sessions"] = str(course.sessions)
    return derived


def _values(
    protocol: ProtocolSpec, locale: str, context: Mapping[str, str], derived: Mapping[str, str]
) -> dict[str, str]:
    """A value for every known placeholder: context, then protocol data, then neutral."""
    values: dict[str, str] = {}
    for name in PLACEHOLDERS:
        given = " ".join(str(context.get(name) or "").split())[:MAX_VALUE_CHARS]
        values[name] = given or derived.get(name) or _neutral(name, locale, protocol.base_locale)
    return values


def _neutral(name: str, locale: str, base: str) -> str:
    phrases = NEUTRAL_VALUES.get(name, {})
    return phrases.get(locale) or phrases.get(base) or phrases.get("en") or "…"


def _fill(text: str, values: Mapping[str, str]) -> str:
    """Replace known ``{names}``; anything else in braces is left as written."""
    return _PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), text)


def _clip(text: str) -> str:
    if len(text) <= TELEGRAM_TEXT_LIMIT:
        return text
    return text[: TELEGRAM_TEXT_LIMIT - 1] + "…"
