"""What the engine reads and does not: negation scope, findings that fired for real
reasons, reassurance only when everything is explained, other languages."""

from __future__ import annotations

import pytest

from messages.triage import Level, decide_clarification, load_rules, triage

RULES = load_rules(reader=False)  # the rules alone: each case here is theirs to get right


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("the bleeding just won't stop, I've been pressing for 15 minutes", "en"),
        ("it doesn't stop bleeding", "en"),
        ("no para de sangrar", "es"),
        ("sangra y no para", "es"),
        ("es hört nicht auf zu bluten", "de"),
        ("кровь не останавливается", "ru"),
    ],
)
def test_bleeding_that_will_not_stop_is_an_emergency(text: str, locale: str) -> None:
    result = triage(text, 0, RULES, locale)
    assert result.level == Level.EMERGENCY
    assert "pinpoint_bleeding" not in {f.rule for f in result.findings}


@pytest.mark.parametrize(
    "text", ["my vision has gone foggy", "my eye has gone blurry", "everything has gone hazy"]
)
def test_gone_before_a_new_symptom_negates_nothing(text: str) -> None:
    assert triage(text, 1, RULES).level == Level.EMERGENCY


@pytest.mark.parametrize(
    ("text", "locale"),
    [("the swelling is gone", "en"), ("no fever, not swollen", "en"), ("kein Fieber", "de")],
)
def test_negation_still_negates_what_it_governs(text: str, locale: str) -> None:
    result = triage(text, 4, RULES, locale)
    assert result.findings == ()
    assert result.level == Level.NOT_A_SYMPTOM


@pytest.mark.parametrize(
    ("text", "locale", "wanted", "not_wanted"),
    [
        ("gelbe Kruste und Fieber", "de", {"infection", "fever"}, "pinpoint_bleeding"),
        ("dizzy and my chest hurts", "en", {"chest", "unwell"}, "tenderness"),
    ],
)
def test_findings_are_the_ones_that_fired_for_real_reasons(
    text: str, locale: str, wanted: set[str], not_wanted: str
) -> None:
    rules = {f.rule for f in triage(text, 3, RULES, locale).findings}
    assert wanted <= rules
    assert not_wanted not in rules


def test_all_good_is_not_a_symptom() -> None:
    assert triage("all good, no swelling", 2, RULES).level == Level.NOT_A_SYMPTOM


def test_an_unexplained_complaint_beside_an_expected_one_is_not_reassured() -> None:
    result = triage("a bit red, and my eyes feel weird", 1, RULES)
    assert result.level == Level.ROUTINE_FOLLOWUP
    assert result.clarify is not None
    assert triage("a bit red and tight", 1, RULES).level == Level.EXPECTED


def test_a_message_in_another_language_is_still_read() -> None:
    result = triage("me cuesta respirar", 0, RULES, "de")
    assert result.level == Level.EMERGENCY


@pytest.mark.parametrize("level", [Level.EXPECTED, Level.ROUTINE_FOLLOWUP])
def test_every_non_urgent_answer_says_when_to_call_now(level: Level) -> None:
    text = {Level.EXPECTED: "a bit red", Level.ROUTINE_FOLLOWUP: "dark patches"}[level]
    for locale in ("en", "es", "de", "ru"):
        result = triage(text, 1, RULES, locale, emergency_number="112")
        assert result.level == level
        assert "112" in result.reply, (locale, result.reply)
    unsure = triage("my skin feels strange", 4, RULES)
    assert "emergency" in unsure.reply  # no number given: the local emergency number


def test_an_urgent_or_emergency_answer_has_no_safety_net_line() -> None:
    urgent = triage("there is pus", 4, RULES, emergency_number="112")
    assert urgent.level == Level.URGENT
    assert RULES.texts["en"].net("112") not in urgent.reply


def test_checklist_ticks_decide_the_level_and_combine() -> None:
    unsure = triage("my face feels strange", 4, RULES)
    assert decide_clarification(unsure, ["vision"], RULES).level == Level.EMERGENCY
    assert decide_clarification(unsure, ["pus", "pain"], RULES).level == Level.URGENT
    both = decide_clarification(unsure, ["fever", "spreading"], RULES)
    assert both.level == Level.EMERGENCY  # sepsis signs, as if typed
    assert [f.rule for f in both.findings] == ["answer:fever", "answer:spreading"]
    denied = decide_clarification(unsure, ["none"], RULES)
    assert denied.level == Level.ROUTINE_FOLLOWUP
    assert [f.rule for f in denied.findings] == ["answer:none"]
