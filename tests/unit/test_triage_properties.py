"""Property tests: triage never raises, and never reassures beside an emergency phrase."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from messages.triage import Level, load_rules, triage
from messages.triage.matching import CUE_KINDS

RULES = load_rules()
LOCALES = sorted(RULES.lexicons)
EMERGENCY_PHRASES = sorted(
    {
        (locale, term.text.replace("*", ""))
        for locale, lexicon in RULES.lexicons.items()
        for term in lexicon.terms
        if term.rule not in CUE_KINDS and RULES.rules[term.rule].level == Level.EMERGENCY
    }
)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=0, max_value=400), st.sampled_from(LOCALES))
def test_arbitrary_text_never_raises(text: str, days: int, locale: str) -> None:
    result = triage(text, days, RULES, locale)
    assert result.level in set(Level)
    assert result.reply


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(EMERGENCY_PHRASES), st.integers(min_value=0, max_value=60))
def test_an_emergency_phrase_is_never_expected(
    noise: str, phrase: tuple[str, str], days: int
) -> None:
    locale, words = phrase
    result = triage(f"{noise}. {words}", days, RULES, locale)
    assert result.level != Level.EXPECTED
    assert result.level == Level.EMERGENCY
