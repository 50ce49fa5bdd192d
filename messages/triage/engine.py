"""Pure symptom triage: (text, day since treatment, rules) -> level, findings, reply.

No I/O and no clock: the rules arrive compiled (see ``loader.py``) and the text
is read by ``matching.py``. The most severe finding wins; a message that looks
like a symptom but matches no rule is never reassured: it gets a clarifying
question and stays for staff review.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from messages.triage.matching import Lexicon, read, tokenize


class Level(StrEnum):
    """Triage levels, ordered: ``Level.EMERGENCY > Level.URGENT`` holds."""

    NOT_A_SYMPTOM = "not_a_symptom"
    EXPECTED = "expected"
    ROUTINE_FOLLOWUP = "routine_followup"
    URGENT = "urgent"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return _RANK[self.value]

    def __lt__(self, other: str) -> bool:
        return self.rank < Level(other).rank

    def __le__(self, other: str) -> bool:
        return self.rank <= Level(other).rank

    def __gt__(self, other: str) -> bool:
        return self.rank > Level(other).rank

    def __ge__(self, other: str) -> bool:
        return self.rank >= Level(other).rank


_RANK = {level.value: index for index, level in enumerate(Level)}


@dataclass(frozen=True)
class Finding:
    """One rule that matched, not negated, and the level it gives on this day."""

    rule: str
    level: Level
    matched: str


@dataclass(frozen=True)
class ClarifyOption:
    key: str
    label: str


@dataclass(frozen=True)
class Clarification:
    """One question with answer buttons; ``decide_clarification`` reads the keys."""

    question: str
    options: tuple[ClarifyOption, ...]
    replies: Mapping[str, str] = field(default_factory=dict)  # level -> reply, same locale


@dataclass(frozen=True)
class TriageResult:
    level: Level
    findings: tuple[Finding, ...]
    reply: str
    clarify: Clarification | None = None
    locale: str = "en"


@dataclass(frozen=True)
class Rule:
    """A compiled rule: what it means and how the day and trend change it."""

    id: str
    level: Level
    basis: str
    staff: Mapping[str, str] = field(default_factory=dict)  # the finding's name, per locale
    expected_through_day: int | None = None
    worse_level: Level | None = None
    worse_after_day: int = 3
    profile_flags: tuple[str, ...] = ()
    profile_level: Level | None = None
    advice: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Texts:
    replies: Mapping[Level, str]
    unsure: str
    question: str
    options: tuple[ClarifyOption, ...]
    emergency_default: str = "your local emergency number"
    emergency_number: str = "{number}"

    def reply(self, level: Level, emergency_number: str | None) -> str:
        """The reply for ``level``, naming the clinic's emergency number if it gave one."""
        call = (
            self.emergency_number.format(number=emergency_number)
            if emergency_number
            else self.emergency_default
        )
        return self.replies[level].replace("{emergency}", call)


@dataclass(frozen=True)
class TriageRules:
    rules: Mapping[str, Rule]
    lexicons: Mapping[str, Lexicon]
    texts: Mapping[str, Texts]
    fallback_locale: str = "en"


CLARIFY_KEYS = ("fever", "pus", "worse", "blisters", "none")


def _rule_level(
    rule: Rule, days: int, cues: frozenset[str], profile: Mapping[str, object]
) -> Level:
    level = rule.level
    worse = "worse" in cues
    if rule.expected_through_day is not None:
        if worse and rule.worse_level is not None and days > rule.worse_after_day:
            level = max(level, rule.worse_level)
        elif worse:
            level = max(Level.ROUTINE_FOLLOWUP, level)
        elif "better" in cues or days <= rule.expected_through_day:
            level = Level.EXPECTED
        if level == Level.EXPECTED and "severe" in cues:
            level = Level.ROUTINE_FOLLOWUP
    elif worse and rule.worse_level is not None and days > rule.worse_after_day:
        level = max(level, rule.worse_level)
    if rule.profile_level is not None and any(profile.get(f) for f in rule.profile_flags):
        level = max(level, rule.profile_level)
    return level


def triage(
    text: str,
    days: int,
    rules: TriageRules,
    locale: str = "en",
    profile: Mapping[str, object] | None = None,
    emergency_number: str | None = None,
) -> TriageResult:
    """The most severe level the message supports on this day, and what to reply.

    ``emergency_number`` is the clinic's (e.g. "112"); without it the reply says
    "your local emergency number".
    """
    locale = locale if locale in rules.lexicons else rules.fallback_locale
    reading = read(text, rules.lexicons[locale])
    findings: dict[str, Finding] = {}
    for match in reading.positives:
        rule = rules.rules[match.term.rule]
        level = _rule_level(rule, days, reading.cues, profile or {})
        known = findings.get(rule.id)
        if known is None or level > known.level:
            findings[rule.id] = Finding(rule.id, level, match.term.text)
    ordered = tuple(sorted(findings.values(), key=lambda f: (-f.level.rank, f.rule)))
    say = _Say(rules, locale, emergency_number)
    if ordered:
        return say.result(ordered[0].level, ordered)
    if reading.cues & {"hint", "severe", "worse"}:
        return say.unsure(reading.cues)
    if "body" in reading.cues and not {"chat", "question"} <= reading.cues:
        return say.unsure(reading.cues)
    if reading.negated_rules:
        return say.result(Level.EXPECTED, ())
    if reading.cues & {"chat", "question", "better"}:
        return say.result(Level.NOT_A_SYMPTOM, ())
    if len([t for t in tokenize(text) if t[0].isalnum()]) >= 4:
        return say.unsure(reading.cues)
    return say.result(Level.NOT_A_SYMPTOM, ())


@dataclass(frozen=True)
class _Say:
    """Words a result in one locale, with the clinic's emergency number."""

    rules: TriageRules
    locale: str
    emergency_number: str | None

    def unsure(self, cues: frozenset[str]) -> TriageResult:
        texts = self.rules.texts[self.locale]
        level = Level.URGENT if cues & {"severe", "worse"} else Level.ROUTINE_FOLLOWUP
        reply = texts.reply(level, self.emergency_number) if level == Level.URGENT else texts.unsure
        replies = {lvl.value: texts.reply(lvl, self.emergency_number) for lvl in texts.replies}
        clarify = Clarification(texts.question, texts.options, replies)
        return TriageResult(level, (), reply, clarify, locale=self.locale)

    def result(self, level: Level, findings: tuple[Finding, ...]) -> TriageResult:
        return _result(self.rules, self.locale, level, findings, self.emergency_number)


def _result(
    rules: TriageRules,
    locale: str,
    level: Level,
    findings: tuple[Finding, ...],
    emergency_number: str | None = None,
) -> TriageResult:
    reply = rules.texts[locale].reply(level, emergency_number)
    if level == Level.EXPECTED and findings:
        advice = [rules.rules[f.rule].advice.get(locale, "") for f in findings if f.level == level]
        reply = " ".join([reply, *dict.fromkeys(a for a in advice if a)])
    return TriageResult(level, findings, reply, locale=locale)


_ANSWER_LEVEL = {
    "fever": Level.URGENT,
    "pus": Level.URGENT,
    "worse": Level.URGENT,
    "blisters": Level.URGENT,
    "none": Level.ROUTINE_FOLLOWUP,
}


def decide_clarification(result: TriageResult, answers: Iterable[str]) -> TriageResult:
    """Settle an unsure result from the buttons pressed (keys of ``CLARIFY_KEYS``).

    Any red flag makes it urgent; "none of these" keeps it for staff review: an
    unsure message is never turned into reassurance.
    """
    given = set(answers)
    chosen = {answer for answer in given if answer in _ANSWER_LEVEL}
    unknown = given - chosen
    if unknown:
        raise ValueError(f"unknown answer keys: {sorted(unknown)}; expected {CLARIFY_KEYS}")
    level = max([result.level, Level.ROUTINE_FOLLOWUP, *(_ANSWER_LEVEL[a] for a in chosen)])
    findings = result.findings + tuple(
        Finding(f"answer:{a}", _ANSWER_LEVEL[a], a) for a in sorted(chosen) if a != "none"
    )
    replies = result.clarify.replies if result.clarify else {}
    return replace(
        result, level=level, findings=findings, reply=replies.get(level, result.reply), clarify=None
    )
