"""What we say, in the patient's language, when a typed date or time can't be used."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date, format_datetime

from messages.i18n import Translator
from schedules.errors import InputError


def examples(t: Translator) -> str:
    return t('Try "today 14:00", "yesterday 5pm" or "28.03 14:00".')


def explain(error: InputError, t: Translator) -> str:
    """The error's meaning as a sentence in ``t``'s language, with examples to copy."""
    text = str(error.values.get("text", ""))
    when = _shown(error.values.get("when"), t.locale)
    match error.reason:
        case "empty":
            sentence = t("Please tell me when your treatment was.")
        case "too_long":
            sentence = t("That's too long for a date, please keep it short.")
        case "future":
            sentence = t(
                'I read "{text}" as {when}, which is still in the future. Please tell me when the treatment happened.',
                text=text,
                when=when,
            )
        case "too_old":
            sentence = t(
                'I read "{text}" as {when}, which is more than a year ago. Please give the date of your recent treatment.',
                text=text,
                when=when,
            )
        case "no_such_date":
            sentence = t(
                'There is no date "{text}". Dates are day first, like 28.03 for 28 March.',
                text=text,
            )
        case "no_such_time":
            sentence = t('"{text}" isn\'t a time of day.', text=text)
        case _:
            sentence = t('I couldn\'t read "{text}" as a date.', text=text)
    return f"{sentence} {examples(t)}"


def _shown(moment: object, locale: str) -> str:
    if isinstance(moment, datetime):
        day = format_date(moment, format="long", locale=locale)
        return f"{day}, {format_datetime(moment, 'HH:mm', tzinfo=moment.tzinfo, locale=locale)}"
    if isinstance(moment, date):
        return format_date(moment, format="long", locale=locale)
    return ""
