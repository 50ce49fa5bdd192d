"""What changes between two protocol versions, as lines an owner reads before publishing.

Pure: two specs in, lines out. ``+`` is added, ``-`` removed, ``~`` changed, e.g.
``+ step red-flag-check-day-3 (day 3 10:30)``, ``~ step makeup-allowed: after 24h → 48h``,
``~ step peeling text (en) changed``. The version number is not a change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import time, timedelta

from schedules.protocol import (
    AfterTiming,
    Answer,
    Condition,
    Course,
    CourseWindowTiming,
    DailyTiming,
    IntervalTiming,
    LatePolicy,
    ProtocolSpec,
    Step,
)
from schedules.units import format_local_time

ARROW = "→"


def diff(old: ProtocolSpec, new: ProtocolSpec) -> list[str]:
    """Every difference between ``old`` and ``new``; empty when they say the same."""
    old_steps = {step.id: step for step in old.steps}
    new_steps = {step.id: step for step in new.steps}
    lines = list(_protocol_changes(old, new))
    lines += [f"- step {s.id} ({describe_timing(s)})" for s in old.steps if s.id not in new_steps]
    for step in new.steps:
        before = old_steps.get(step.id)
        if before is None:
            lines.append(f"+ step {step.id} ({describe_timing(step)})")
        elif before != step:
            lines.extend(_step_changes(before, step))
    if _common_order(old, new_steps) != _common_order(new, old_steps):
        lines.append("~ step order changed")
    return lines


def changed_step_ids(old: ProtocolSpec, new: ProtocolSpec) -> frozenset[str]:
    """Steps added, removed, or changed in any field (their pending reminders differ)."""
    old_steps = {step.id: step for step in old.steps}
    new_steps = {step.id: step for step in new.steps}
    return frozenset(
        step_id
        for step_id in old_steps.keys() | new_steps.keys()
        if old_steps.get(step_id) != new_steps.get(step_id)
    )


def same_content(old: ProtocolSpec, new: ProtocolSpec) -> bool:
    """The two say exactly the same, whatever their version numbers."""
    return old.model_copy(update={"version": new.version}) == new


@dataclass(frozen=True)
class Rewording:
    """A step's text in one language, before and after."""

    step_id: str
    locale: str
    before: str
    after: str


def rewordings(old: ProtocolSpec, new: ProtocolSpec) -> list[Rewording]:
    """Every step text both versions have, in a language both have, that reads differently."""
    before = {step.id: step.text for step in old.steps}
    return [
        Rewording(step.id, locale, before[step.id][locale], text)
        for step in new.steps
        if step.id in before
        for locale, text in step.text.items()
        if before[step.id].get(locale, text) != text
    ]


def describe_timing(step: Step) -> str:
    """A step's timing as an owner reads it: ``at once``, ``after 24h``, ``day 3 10:30``..."""
    timing = step.timing()
    if isinstance(timing, AfterTiming):
        text = f"after {_duration(timing.offset)}" if timing.offset else "at once"
    elif isinstance(timing, IntervalTiming):
        text = f"every {_duration(timing.interval)} until {format_local_time(timing.until)}"
        if step.max_occurrences is not None:
            text += f" at most {step.max_occurrences} times"
    elif isinstance(timing, CourseWindowTiming):
        text = f"course window {timing.edge.value} {_times(timing.times)}"
    else:
        text = _daily(timing)
    if step.anchor.value != "treatment":
        text += f" from {step.anchor.value}"
    return text


def _duration(value: timedelta) -> str:
    """``24h``, ``48h``, ``1h30m``, ``7d``: days only from three on, as people say them."""
    minutes = int(value.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    if days >= 3 and not rest:
        return f"{days}d"
    hours, minutes = divmod(minutes, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m")) if n) or "0m"


def _daily(timing: DailyTiming) -> str:
    days = (
        f"day {timing.first}"
        if timing.first == timing.last
        else f"days {timing.first}–{timing.last}"
    )
    return f"{days} {_times(timing.times)}"


def _times(times: Sequence[time]) -> str:
    return ", ".join(format_local_time(moment) for moment in times)


def changed(before: str, after: str) -> str:
    """``after 24h → 48h``: words both share at the start are said once."""
    old_words, new_words = before.split(" "), after.split(" ")
    shared = 0
    while (
        shared < min(len(old_words), len(new_words)) - 1 and old_words[shared] == new_words[shared]
    ):
        shared += 1
    head = " ".join(old_words[:shared])
    tail = f"{' '.join(old_words[shared:])} {ARROW} {' '.join(new_words[shared:])}"
    return f"{head} {tail}" if head else tail


def _common_order(spec: ProtocolSpec, other: Mapping[str, Step]) -> list[str]:
    return [step.id for step in spec.steps if step.id in other]


def _step_changes(old: Step, new: Step) -> Iterator[str]:
    where = f"~ step {new.id}"
    if old.kind != new.kind:
        yield f"{where} kind: {old.kind.value} {ARROW} {new.kind.value}"
    if describe_timing(old) != describe_timing(new):
        yield f"{where}: {changed(describe_timing(old), describe_timing(new))}"
    if old.quiet != new.quiet:
        yield f"{where} quiet hours: {old.quiet.value} {ARROW} {new.quiet.value}"
    if old.late != new.late:
        yield f"{where} when late: {_late(old.late)} {ARROW} {_late(new.late)}"
    if old.condition != new.condition:
        yield f"{where} condition: {_condition(old.condition)} {ARROW} {_condition(new.condition)}"
    if old.actions != new.actions:
        yield f"{where} buttons: {_listed(old.actions)} {ARROW} {_listed(new.actions)}"
    yield from _text_changes(f"{where} text", old.text, new.text)
    yield from _answer_changes(where, old.answers or (), new.answers or ())


def _late(policy: LatePolicy) -> str:
    grace = f" after {_duration(policy.grace)}" if policy.grace is not None else ""
    return f"{policy.policy.value}{grace}"


def _condition(condition: Condition | None) -> str:
    if condition is None:
        return "always"
    parts = []
    if condition.skin_types is not None:
        parts.append("skin " + "/".join(skin.value for skin in condition.skin_types))
    if condition.pigmentation is not None:
        parts.append("pigmentation watch" if condition.pigmentation else "no pigmentation watch")
    if condition.while_ is not None:
        parts.append(f"while {condition.while_.value}")
    if condition.course is not None:
        parts.append(f"course {condition.course.value}")
    return ", ".join(parts)


def _listed(values: Sequence[object]) -> str:
    return ", ".join(str(getattr(value, "value", value)) for value in values) or "none"


def _text_changes(label: str, old: Mapping[str, str], new: Mapping[str, str]) -> Iterator[str]:
    for locale in [*new, *(locale for locale in old if locale not in new)]:
        if locale not in old:
            yield f"{label} ({locale}) added"
        elif locale not in new:
            yield f"{label} ({locale}) removed"
        elif old[locale] != new[locale]:
            yield f"{label} ({locale}) changed"


def _answer_changes(where: str, old: Sequence[Answer], new: Sequence[Answer]) -> Iterator[str]:
    before = {answer.id: answer for answer in old}
    after = {answer.id: answer for answer in new}
    for answer in old:
        if answer.id not in after:
            yield f"{where} answer {answer.id} removed"
    for answer in new:
        previous = before.get(answer.id)
        if previous is None:
            yield f"{where} answer {answer.id} added ({answer.effect.value})"
            continue
        if previous.effect != answer.effect:
            yield (
                f"{where} answer {answer.id}: {previous.effect.value} {ARROW} {answer.effect.value}"
            )
        yield from _text_changes(f"{where} answer {answer.id} text", previous.text, answer.text)


def _protocol_changes(old: ProtocolSpec, new: ProtocolSpec) -> Iterator[str]:
    if old.slug != new.slug:
        yield f"~ protocol: {old.slug} {ARROW} {new.slug}"
    yield from _text_changes("~ name", old.name, new.name)
    if old.locales != new.locales:
        yield f"~ languages: {_listed(old.locales)} {ARROW} {_listed(new.locales)}"
    old_courses, new_courses = old.courses or {}, new.courses or {}
    for course_id in old_courses:
        if course_id not in new_courses:
            yield f"- course {course_id}"
    for course_id, course in new_courses.items():
        previous = old_courses.get(course_id)
        if previous is None:
            yield f"+ course {course_id} ({_course(course)})"
        elif previous != course:
            yield from _course_changes(course_id, previous, course)
    if old.default_course_id != new.default_course_id:
        yield f"~ default course: {old.default_course_id} {ARROW} {new.default_course_id}"


def _course(course: Course) -> str:
    sessions = "open-ended" if course.sessions is None else f"{course.sessions} sessions"
    low, high = course.interval_weeks
    return f"{sessions}, next after {low}–{high} weeks"


def _course_changes(course_id: str, old: Course, new: Course) -> Iterator[str]:
    if old.sessions != new.sessions:
        before, after = (c.sessions or "open-ended" for c in (old, new))
        yield f"~ course {course_id} sessions: {before} {ARROW} {after}"
    if old.interval_weeks != new.interval_weeks:
        before, after = ("{}–{} weeks".format(*c.interval_weeks) for c in (old, new))
        yield f"~ course {course_id} next session after: {before} {ARROW} {after}"
    yield from _text_changes(f"~ course {course_id} name", old.name, new.name)
