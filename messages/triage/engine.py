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
from typing import Protocol

from messages.triage.matching import Lexicon, Reading, read, tokenize
from messages.triage.temperature import FEVER_C, fever_in


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
    persists_as: str | None = None  # the rule it becomes when the patient says "won't stop"
    profile_flags: tuple[str, ...] = ()
    profile_level: Level | None = None
    advice: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Combination:
    """Signs that together mean more than each alone: every group matched by another sign."""

    id: str
    level: Level
    groups: tuple[frozenset[str], ...]

    def holds(self, present: frozenset[str]) -> bool:
        return _cover(self.groups, present)

    @property
    def signs(self) -> frozenset[str]:
        return frozenset().union(*self.groups)


def _cover(groups: tuple[frozenset[str], ...], present: frozenset[str]) -> bool:
    if not groups:
        return True
    first, rest = groups[0], groups[1:]
    return any(_cover(rest, present - {sign}) for sign in first & present)


@dataclass(frozen=True)
class Texts:
    replies: Mapping[Level, str]
    unsure: str
    question: str
    options: tuple[ClarifyOption, ...]
    safety_net: str = ""
    unrecognised: str = "Wording the rules do not know, read as a red flag"
    emergency_default: str = "your local emergency number"
    emergency_number: str = "{number}"

    def call(self, emergency_number: str | None) -> str:
        if emergency_number:
            return self.emergency_number.format(number=emergency_number)
        return self.emergency_default

    def reply(self, level: Level, emergency_number: str | None) -> str:
        """The reply for ``level``, naming the clinic's emergency number if it gave one."""
        return self.replies[level].replace("{emergency}", self.call(emergency_number))

    def net(self, emergency_number: str | None) -> str:
        """The closing line of every non-urgent answer: exactly when to call now."""
        return self.safety_net.replace("{emergency}", self.call(emergency_number))


class SecondReader(Protocol):
    """An independent recogniser (a learned model): it may raise a level, never lower one."""

    def red_flag(self, text: str, days: int) -> Level | None:
        """URGENT or EMERGENCY when it reads a red flag; CHECK_LEVEL when only unsure."""


CHECK_LEVEL = Level.ROUTINE_FOLLOWUP  # what a second reader returns for "ask the checklist"


@dataclass(frozen=True)
class TriageRules:
    rules: Mapping[str, Rule]
    lexicons: Mapping[str, Lexicon]
    texts: Mapping[str, Texts]
    fallback_locale: str = "en"
    combinations: tuple[Combination, ...] = ()
    reader: SecondReader | None = None


# The red-flag checklist: each box is a rule, so a tick counts as that rule would.
CHECKLIST = {
    "breathing": "airway",
    "swelling": "angioedema",
    "vision": "vision",
    "fever": "fever",
    "spreading": "spreading_redness",
    "bleeding": "bleeding_uncontrolled",
    "pus": "infection",
    "blisters": "cold_sore",
    "pain": "severe_pain",
}
CLARIFY_KEYS = (*CHECKLIST, "none")


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


def _findings(
    reading: Reading, text: str, days: int, rules: TriageRules, profile: Mapping[str, object]
) -> dict[str, Finding]:
    findings: dict[str, Finding] = {}
    for match in reading.positives:
        rule = rules.rules[match.term.rule]
        if rule.persists_as is not None and "persist" in reading.cues:
            rule = rules.rules[rule.persists_as]  # "the bleeding won't stop"
        level = _rule_level(rule, days, reading.cues, profile)
        known = findings.get(rule.id)
        if known is None or level > known.level:
            findings[rule.id] = Finding(rule.id, level, match.term.text)
    measured = fever_in(text)
    fever = rules.rules.get("fever")
    if measured is not None and fever is not None:
        if measured >= FEVER_C:
            findings["fever"] = Finding("fever", fever.level, f"{measured:.1f} °C")
        else:  # "fever? only 37.4": the number settles it
            findings.pop("fever", None)
    return findings


def _combined(findings: dict[str, Finding], rules: TriageRules) -> dict[str, Finding]:
    present = frozenset(findings)
    for combination in rules.combinations:
        if combination.holds(present):
            signs = "+".join(sorted(present & combination.signs))
            findings[combination.id] = Finding(combination.id, combination.level, signs)
    return findings


def _reading(text: str, locale: str, rules: TriageRules) -> Reading:
    """The chosen language's reading; when it finds no sign, the first other one that does."""
    reading = read(text, rules.lexicons[locale])
    if reading.positives or reading.negated_rules:
        return reading
    for other, lexicon in rules.lexicons.items():
        if other != locale:
            elsewhere = read(text, lexicon)
            if elsewhere.positives:
                return elsewhere
    return reading


def triage(
    text: str,
    days: int,
    rules: TriageRules,
    locale: str = "en",
    profile: Mapping[str, object] | None = None,
    emergency_number: str | None = None,
    *,
    second_opinion: bool = True,
) -> TriageResult:
    """The most severe level the message supports on this day, and what to reply.

    ``emergency_number`` is the clinic's (e.g. "112"); without it the reply says
    "your local emergency number". Expected (reassurance) only when every sign read is
    expected and nothing else in the message sounds like a symptom; the second reader
    can raise any answer to a red flag or to the checklist, and nothing lowers one.
    ``second_opinion=False`` reads with the rules alone: for text typed where we asked
    for a date or a place, which the model was never trained on.
    """
    locale = locale if locale in rules.lexicons else rules.fallback_locale
    reading = _reading(text, locale, rules)
    findings = _combined(_findings(reading, text, days, rules, profile or {}), rules)
    ordered = tuple(sorted(findings.values(), key=lambda f: (-f.level.rank, f.rule)))
    say = _Say(rules, locale, emergency_number)
    first = _rules_answer(say, reading, ordered, text)
    if rules.reader is None or not second_opinion or first.level == Level.EMERGENCY:
        return first
    second = rules.reader.red_flag(text, days)
    if second is None or (first.level >= Level.URGENT and second <= first.level):
        return first
    if second >= Level.URGENT and second > first.level:
        raised = (*first.findings, Finding(f"reader:{second.value}", second, "reader"))
        return say.result(second, raised)
    if first.clarify is None and first.level <= Level.EXPECTED:
        return say.unsure(reading.cues, first.findings)
    return first


def _rules_answer(
    say: _Say, reading: Reading, ordered: tuple[Finding, ...], text: str
) -> TriageResult:
    if ordered:
        if ordered[0].level == Level.EXPECTED and reading.unexplained:
            return say.unsure(reading.cues, ordered)
        return say.result(ordered[0].level, ordered)
    if reading.cues & {"hint", "concern", "severe", "worse"}:
        return say.unsure(reading.cues)
    if "body" in reading.cues and not reading.cues & {"chat", "question"}:
        return say.unsure(reading.cues)
    if reading.negated_rules or reading.cues & {"chat", "question", "better"}:
        return say.result(Level.NOT_A_SYMPTOM, ())  # "all good, no swelling"
    if len([t for t in tokenize(text) if t[0].isalnum()]) >= 4:
        return say.unsure(reading.cues)
    return say.result(Level.NOT_A_SYMPTOM, ())


@dataclass(frozen=True)
class _Say:
    """Words a result in one locale, with the clinic's emergency number."""

    rules: TriageRules
    locale: str
    emergency_number: str | None

    def unsure(self, cues: frozenset[str], findings: tuple[Finding, ...] = ()) -> TriageResult:
        texts = self.rules.texts[self.locale]
        level = Level.URGENT if cues & {"severe", "worse"} else Level.ROUTINE_FOLLOWUP
        reply = texts.reply(level, self.emergency_number) if level == Level.URGENT else texts.unsure
        if level < Level.URGENT:
            reply = _join(reply, texts.net(self.emergency_number))
        replies = {
            lvl.value: _closed(
                texts, lvl, texts.reply(lvl, self.emergency_number), self.emergency_number
            )
            for lvl in texts.replies
        }
        clarify = Clarification(texts.question, texts.options, replies)
        return TriageResult(level, findings, reply, clarify, locale=self.locale)

    def result(self, level: Level, findings: tuple[Finding, ...]) -> TriageResult:
        return _result(self.rules, self.locale, level, findings, self.emergency_number)


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _closed(texts: Texts, level: Level, reply: str, emergency_number: str | None) -> str:
    """Every answer short of urgent ends with when to call now (nurse triage safety-netting)."""
    if Level.EXPECTED <= level <= Level.ROUTINE_FOLLOWUP:
        return _join(reply, texts.net(emergency_number))
    return reply


def _result(
    rules: TriageRules,
    locale: str,
    level: Level,
    findings: tuple[Finding, ...],
    emergency_number: str | None = None,
) -> TriageResult:
    texts = rules.texts[locale]
    reply = texts.reply(level, emergency_number)
    if level == Level.EXPECTED and findings:
        advice = [
            rules.rules[f.rule].advice.get(locale, "")
            for f in findings
            if f.level == level and f.rule in rules.rules
        ]
        reply = " ".join([reply, *dict.fromkeys(a for a in advice if a)])
    return TriageResult(
        level, findings, _closed(texts, level, reply, emergency_number), locale=locale
    )


def decide_clarification(
    result: TriageResult, answers: Iterable[str], rules: TriageRules | None = None
) -> TriageResult:
    """Settle an unsure result from the boxes ticked (keys of ``CLARIFY_KEYS``).

    Each tick counts as its rule's sign (with ``rules``, ticks combine like words do:
    fever and spreading redness together are an emergency); "none of these" keeps it
    for staff review: an unsure message is never turned into reassurance.
    """
    given = set(answers)
    unknown = given - set(CLARIFY_KEYS)
    if unknown:
        raise ValueError(f"unknown answer keys: {sorted(unknown)}; expected {CLARIFY_KEYS}")
    ticked = sorted(given - {"none"})
    levels = [_tick_level(key, rules) for key in ticked]
    level = max([result.level, Level.ROUTINE_FOLLOWUP, *levels])
    signs = frozenset(f.rule for f in result.findings) | {CHECKLIST[key] for key in ticked}
    for combination in rules.combinations if rules else ():
        if combination.holds(signs):
            level = max(level, combination.level)
    findings = result.findings + tuple(
        Finding(f"answer:{key}", tick, key) for key, tick in zip(ticked, levels, strict=True)
    )
    if not ticked:  # staff see that the patient denied every red flag
        findings += (Finding("answer:none", Level.ROUTINE_FOLLOWUP, "none"),)
    replies = result.clarify.replies if result.clarify else {}
    return replace(
        result, level=level, findings=findings, reply=replies.get(level, result.reply), clarify=None
    )


def _tick_level(key: str, rules: TriageRules | None) -> Level:
    rule = rules.rules.get(CHECKLIST[key]) if rules else None
    return rule.level if rule is not None else Level.URGENT
