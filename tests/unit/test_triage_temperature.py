"""Temperatures written as numbers, in four languages, °C and °F, dot and comma."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messages.triage import Level, load_rules, triage
from messages.triage.temperature import FEVER_C, temperatures

RULES = load_rules(reader=False)  # the numbers alone, without the second reader
CELSIUS_WORDS = {
    "en": ["temp {v}", "temperature is {v}", "{v}C", "{v} °C", "fever {v}"],
    "es": ["fiebre de {v}", "{v} de fiebre", "tengo {v} grados", "temperatura {v}"],
    "de": ["Fieber {v}", "{v} Grad Fieber", "Temperatur {v}", "habe {v}°"],
    "ru": ["температура {v}", "{v} градусов", "темп {v}", "т {v}"],
}
tenths = st.integers(min_value=350, max_value=429).map(lambda n: n / 10)


def written(value: float, comma: bool) -> str:
    text = f"{value:.1f}"
    return text.replace(".", ",") if comma else text


@settings(max_examples=200, deadline=None)
@given(tenths, st.booleans(), st.sampled_from(sorted(CELSIUS_WORDS)), st.data())
def test_a_celsius_temperature_is_read_in_every_language(
    value: float, comma: bool, locale: str, data: st.DataObject
) -> None:
    pattern = data.draw(st.sampled_from(CELSIUS_WORDS[locale]))
    text = pattern.format(v=written(value, comma))
    assert temperatures(text) == [value]
    level = triage(text, 3, RULES, locale).level
    if value >= FEVER_C:
        assert level >= Level.URGENT, text
    else:
        assert level < Level.URGENT, text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=950, max_value=1089), st.sampled_from(["F", "°F", " F", " degrees F"]))
def test_fahrenheit_is_converted(tenths_f: int, unit: str) -> None:
    value = tenths_f / 10
    [celsius] = temperatures(f"temp {value:.1f}{unit}")
    assert celsius == pytest.approx((value - 32) * 5 / 9, abs=0.06)


@pytest.mark.parametrize(
    "text",
    ["I am 39 years old", "day 38 after treatment", "see you at 10.30", "3 days", "I paid 120"],
)
def test_numbers_that_are_no_temperature_are_left_alone(text: str) -> None:
    assert temperatures(text) == []


def test_a_measured_normal_temperature_overrules_the_word_fever() -> None:
    assert triage("thought I had a fever but it's only 37.4", 3, RULES).level < Level.URGENT
    assert triage("fever 38.6", 3, RULES).level == Level.URGENT


def test_fever_with_shivers_and_spreading_redness_is_an_emergency() -> None:
    text = "39,5 and shivering, the redness is spreading down my neck"
    result = triage(text, 3, RULES)
    assert result.level == Level.EMERGENCY
    assert "sepsis_signs" in {f.rule for f in result.findings}
    assert triage(
        "39 de fiebre y escalofríos, la rojez baja por el cuello", 3, RULES, "es"
    ).level == (Level.EMERGENCY)
