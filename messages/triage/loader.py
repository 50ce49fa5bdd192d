"""Triage rules file: schema, validation and compilation into :class:`TriageRules`.

Every problem is one line naming the file, the rule (by id, or by index) and
the field, e.g. ``rules.yaml: rule "fever" (rules[4]), field "level": ...``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from messages.triage.engine import (
    CHECKLIST,
    CLARIFY_KEYS,
    ClarifyOption,
    Combination,
    Level,
    Rule,
    Texts,
    TriageRules,
)
from messages.triage.matching import CUE_KINDS, Lexicon, compile_lexicon
from messages.triage.model import ShippedModel
from schedules.errors import RulesError
from schedules.protocol_yaml import SafeLoader

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
REPLY_KEYS = (*(level.value for level in Level), "unsure", "question")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CueSpec(_Strict):
    negations: list[Text]
    post_negations: list[Text] = []
    terminators: list[Text] = []
    coordinators: list[Text] = []
    persist: list[Text] = []  # "stop" in "won't stop": negating it is no negation
    worse: list[Text] = []
    better: list[Text] = []
    severe: list[Text] = []
    hint: list[Text] = []
    concern: list[Text] = []  # "is that normal?", "I'm worried": asks, describes nothing
    body: list[Text] = []
    chat: list[Text] = []


class ReplySpec(_Strict):
    emergency: Text
    urgent: Text
    routine_followup: Text
    expected: Text
    not_a_symptom: Text
    unsure: Text
    question: Text
    options: dict[str, Text]
    safety_net: Text  # closes every non-urgent answer: when to call now
    unrecognised: Text  # staff's name for a red flag only the second reader saw
    emergency_default: Text  # "{emergency}" when the clinic gave no number
    emergency_number: Annotated[str, StringConstraints(pattern=r"\{number\}")]


class RuleSpec(_Strict):
    id: RuleId
    level: Level
    staff: dict[str, Text]  # per locale: how the clinic's staff see this finding
    basis: Text
    terms: dict[str, list[Text]]
    emoji: list[Text] = []
    expected_through_day: int | None = Field(default=None, ge=0, le=366)
    worse_level: Level | None = None
    worse_after_day: int = Field(default=3, ge=0, le=366)
    persists_as: RuleId | None = None
    profile_flags: list[Text] = []
    profile_level: Level | None = None
    advice: dict[str, Text] = {}


class CombinationSpec(_Strict):
    """Signs that together are worse: each group (any of its rules) met by another sign."""

    id: RuleId
    level: Level
    staff: dict[str, Text]
    basis: Text
    groups: list[Annotated[list[RuleId], Field(min_length=1)]] = Field(min_length=2)


class RulesSpec(_Strict):
    version: int = Field(ge=1)
    locales: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]]
    replies: dict[str, ReplySpec]
    cues: dict[str, CueSpec]
    rules: list[RuleSpec]
    combinations: list[CombinationSpec] = []


def _rule_name(raw: Any, index: int) -> str:
    rules = raw.get("rules") if isinstance(raw, dict) else None
    item = rules[index] if isinstance(rules, list) and index < len(rules) else None
    rule_id = item.get("id") if isinstance(item, dict) else None
    return f'rule "{rule_id}" (rules[{index}])' if rule_id else f"rules[{index}]"


def _describe(error: ValidationError, source: str, raw: Any) -> list[str]:
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            where = _rule_name(raw, loc[1])
            field = ".".join(str(part) for part in loc[2:]) or "document"
        else:
            where = "document"
            field = ".".join(str(part) for part in loc) or "document"
        lines.append(f'{source}: {where}, field "{field}": {item["msg"]}')
    return lines


def _check(spec: RulesSpec, source: str) -> list[str]:
    """Cross-field problems pydantic cannot see: locales complete, ids unique."""
    problems: list[str] = []
    wanted = set(spec.locales)
    for part, present in (("replies", spec.replies), ("cues", spec.cues)):
        for locale in sorted(wanted - set(present)):
            problems.append(f'{source}: document, field "{part}.{locale}": missing locale')
    for locale, reply in spec.replies.items():
        missing = set(CLARIFY_KEYS) - set(reply.options)
        extra = set(reply.options) - set(CLARIFY_KEYS)
        if missing or extra:
            problems.append(
                f'{source}: document, field "replies.{locale}.options": '
                f"expected keys {', '.join(CLARIFY_KEYS)}"
            )
    seen: set[str] = set()
    for index, rule in enumerate(spec.rules):
        where = f'{source}: rule "{rule.id}" (rules[{index}])'
        if rule.id in seen:
            problems.append(f'{where}, field "id": duplicate rule id')
        seen.add(rule.id)
        for locale in sorted(wanted - {k for k, v in rule.terms.items() if v}):
            problems.append(f'{where}, field "terms.{locale}": missing terms for this locale')
        for locale, terms in sorted(rule.terms.items()):
            if any(word.strip("*") == "" for term in terms for word in term.split()):
                problems.append(f'{where}, field "terms.{locale}": a lone "*" matches nothing')
        for locale in sorted(set(rule.terms) - wanted):
            problems.append(f'{where}, field "terms.{locale}": unknown locale')
        if set(rule.staff) != wanted:
            problems.append(f'{where}, field "staff": needs every locale')
        if rule.advice and set(rule.advice) != wanted:
            problems.append(f'{where}, field "advice": needs every locale or none')
        if rule.persists_as is not None and rule.persists_as not in {r.id for r in spec.rules}:
            problems.append(f'{where}, field "persists_as": unknown rule "{rule.persists_as}"')
        if (rule.profile_level is None) != (not rule.profile_flags):
            problems.append(f'{where}, field "profile_level": set with profile_flags, or neither')
    for rule_id in sorted(set(CHECKLIST.values()) - seen):
        problems.append(f'{source}: document, field "rules": the checklist needs rule "{rule_id}"')
    for index, combination in enumerate(spec.combinations):
        where = f'{source}: combination "{combination.id}" (combinations[{index}])'
        if combination.id in seen:
            problems.append(f'{where}, field "id": a rule has this id')
        for rule_id in sorted({r for group in combination.groups for r in group} - seen):
            problems.append(f'{where}, field "groups": unknown rule "{rule_id}"')
        if set(combination.staff) != wanted:
            problems.append(f'{where}, field "staff": needs every locale')
    return problems


def parse_rules(text: str, source: str = "rules.yaml") -> TriageRules:
    """Validate and compile a rules document; raise :class:`RulesError` naming every problem."""
    try:
        raw = yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError as error:
        raise RulesError(f"{source}: not valid YAML: {error}") from error
    try:
        spec = RulesSpec.model_validate(raw)
    except ValidationError as error:
        raise RulesError("\n".join(_describe(error, source, raw))) from error
    problems = _check(spec, source)
    if problems:
        raise RulesError("\n".join(problems))
    return _compile(spec)


def _compile(spec: RulesSpec) -> TriageRules:
    rules = {
        r.id: Rule(
            id=r.id,
            level=r.level,
            staff=dict(r.staff),
            basis=r.basis,
            expected_through_day=r.expected_through_day,
            worse_level=r.worse_level,
            worse_after_day=r.worse_after_day,
            persists_as=r.persists_as,
            profile_flags=tuple(r.profile_flags),
            profile_level=r.profile_level,
            advice=dict(r.advice),
        )
        for r in spec.rules
    }
    for c in spec.combinations:  # a combination is named for staff like a rule
        rules[c.id] = Rule(id=c.id, level=c.level, basis=c.basis, staff=dict(c.staff))
    base = spec.locales[0]
    lexicons: dict[str, Lexicon] = {}
    texts: dict[str, Texts] = {}
    for locale in spec.locales:
        # Patients mix languages: every locale also reads the base locale's words.
        sources = dict.fromkeys([locale, base])
        terms: list[tuple[str, str]] = []
        for rule in spec.rules:
            terms.extend((rule.id, e) for e in rule.emoji)
            for src in sources:
                terms.extend((rule.id, t) for t in rule.terms.get(src, []))
        cues = spec.cues[locale]
        for kind in CUE_KINDS:
            terms.extend((kind, t) for t in getattr(cues, kind))
        lexicons[locale] = compile_lexicon(
            terms,
            negations=[*cues.negations, *spec.cues[base].negations],
            post_negations=cues.post_negations,
            terminators=cues.terminators,
            coordinators=cues.coordinators,
            persist=cues.persist,
        )
        reply = spec.replies[locale]
        texts[locale] = Texts(
            replies={level: getattr(reply, level.value) for level in Level},
            unsure=reply.unsure,
            question=reply.question,
            options=tuple(ClarifyOption(key, reply.options[key]) for key in CLARIFY_KEYS),
            safety_net=reply.safety_net,
            unrecognised=reply.unrecognised,
            emergency_default=reply.emergency_default,
            emergency_number=reply.emergency_number,
        )
    combinations = tuple(
        Combination(c.id, c.level, tuple(frozenset(g) for g in c.groups)) for c in spec.combinations
    )
    return TriageRules(
        rules=rules,
        lexicons=lexicons,
        texts=texts,
        fallback_locale=base,
        combinations=combinations,
    )


def load_rules(path: str | os.PathLike[str] | None = None, *, reader: bool = True) -> TriageRules:
    """Read the bundled rules (or ``path``), with the shipped model as second reader
    unless ``reader`` is False. The bundled ones are read once per process and shared (they
    are immutable, and so is the model, which loads on its first message)."""
    if path is None:
        return _bundled(reader)
    source = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise RulesError(f"{source}: cannot read the file: {error}") from error
    rules = parse_rules(text, source)
    return replace(rules, reader=ShippedModel()) if reader else rules


@functools.cache
def _bundled(reader: bool) -> TriageRules:
    if reader:
        return replace(_bundled(False), reader=ShippedModel())
    file = resources.files("messages").joinpath("triage", "rules.yaml")
    return parse_rules(file.read_text(encoding="utf-8"), "rules.yaml")


def rule_bases(rules: TriageRules) -> Mapping[str, str]:
    """Rule id -> cited basis, for documentation and the CLI."""
    return {rule_id: rule.basis for rule_id, rule in rules.rules.items()}
