"""Patients answer "when were you treated?" in Spanish, German and Russian too."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.handlers.input_errors import explain
from messages.i18n import translator
from schedules.errors import InputError
from schedules.when import parse_treatment_time

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=MADRID)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ahora mismo", datetime(2026, 11, 25, 10, 0)),
        ("ayer 17:00", datetime(2026, 11, 24, 17, 0)),
        ("ayer a las 17:30", datetime(2026, 11, 24, 17, 30)),
        ("anteayer 9:00", datetime(2026, 11, 23, 9, 0)),
        ("hace 3 horas", datetime(2026, 11, 25, 7, 0)),
        ("28 de marzo de 2026 a las 14:00", datetime(2026, 3, 28, 14, 0)),
        ("ayer a mediodía", datetime(2026, 11, 24, 12, 0)),
        ("gestern um 17 Uhr", datetime(2026, 11, 24, 17, 0)),
        ("heute 8:15 Uhr", datetime(2026, 11, 25, 8, 15)),
        ("vorgestern 9:30", datetime(2026, 11, 23, 9, 30)),
        ("vor 2 Stunden", datetime(2026, 11, 25, 8, 0)),
        ("24. November 14:00", datetime(2026, 11, 24, 14, 0)),
        ("28. März 2026", datetime(2026, 3, 28, 12, 0)),
        ("вчера в 17:00", datetime(2026, 11, 24, 17, 0)),
        ("сегодня 9:00", datetime(2026, 11, 25, 9, 0)),
        ("позавчера 11:00", datetime(2026, 11, 23, 11, 0)),
        ("2 часа назад", datetime(2026, 11, 25, 8, 0)),
        ("28 марта 14:00", datetime(2026, 3, 28, 14, 0)),
    ],
)
def test_time_words_in_each_language(text: str, expected: datetime) -> None:
    parsed = parse_treatment_time(text, NOW)
    assert parsed.local.replace(tzinfo=None) == expected


def test_english_still_reads_a_and_at() -> None:
    assert parse_treatment_time("an hour ago", NOW).local.hour == 9
    assert parse_treatment_time("yesterday at 5pm", NOW).local.hour == 17


@pytest.mark.parametrize("locale", ["es", "de", "ru"])
@pytest.mark.parametrize("text", ["31.02", "mañana 10:00 zzz", "25:99", "28.03.2024", "hoy 23:00"])
def test_every_refusal_is_explained_in_the_patients_language(locale: str, text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_treatment_time(text, NOW)
    english = explain(caught.value, translator("en"))
    local = explain(caught.value, translator(locale))
    assert local != english
    assert "28.03 14:00" in local  # an example to copy is always given


def test_after_choosing_yesterday_a_bare_time_means_yesterday() -> None:
    from schedules.when import parse_treatment_time_on

    assert parse_treatment_time_on("14:30", NOW, "yesterday").local.day == 24
    assert parse_treatment_time_on("gestern um 14 Uhr", NOW, "yesterday").local.hour == 14
    assert parse_treatment_time_on("22.11 9:00", NOW, "yesterday").local.day == 22
    with pytest.raises(InputError) as caught:
        parse_treatment_time_on("31.02", NOW, "yesterday")
    assert caught.value.values["text"] == "31.02"  # the patient's own words are quoted back
