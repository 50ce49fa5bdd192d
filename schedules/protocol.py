"""Protocol schema and loader: a clinic protocol is validated data, not code.

A protocol lists steps; each step says when it is due (one timing), what to do
inside quiet hours, what to do when it is late, when it applies, and what it says
in every locale. Problems are reported one line each, naming file, step and field.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from enum import StrEnum
from importlib import resources
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from schedules.errors import ProtocolError
from schedules.protocol_problems import Problem, describe, problems_error
from schedules.protocol_yaml import describe_yaml_error, read_yaml
from schedules.units import Duration, LocalTime, LocalTimes, invalid, show

MAX_TEXT_CHARS = 3500
MAX_LABEL_CHARS = 64
MAX_DAY = 366
MAX_TIMES_PER_DAY = 24
MAX_INTERVAL_OCCURRENCES = 99
MIN_INTERVAL = timedelta(minutes=15)

PLACEHOLDERS: frozenset[str] = frozenset(
    {"clinic_name", "next_session_weeks", "session_number", "course_sessions"}
)
"""The only ``{names}`` a text may use; the renderer fills or neutrally replaces them."""
COURSE_PLACEHOLDERS: frozenset[str] = frozenset(
    {"next_session_weeks", "session_number", "course_sessions"}
)
"""Placeholders filled from the treatment's course: only for protocols with ``courses``."""
MAX_COURSE_ID_CHARS = 32  # course ids travel in button data (64 bytes at most)
MAX_COURSE_SESSIONS = 50

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LOCALE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class StepKind(StrEnum):
    ADVICE = "advice"
    CHECKIN = "checkin"
    NUDGE = "nudge"


class Anchor(StrEnum):
    """What a step's timing counts from."""

    TREATMENT = "treatment"
    OUTDOORS = "outdoors"


class QuietRule(StrEnum):
    """What happens to an occurrence that falls inside the patient's quiet hours."""

    DEFER = "defer"
    ADVANCE = "advance"
    SKIP = "skip"


class LateAction(StrEnum):
    """What happens to an occurrence that is due while we could not send."""

    SEND = "send"
    SKIP = "skip"
    COLLAPSE = "collapse"


class AnswerEffect(StrEnum):
    """What pressing an answer means to the bot."""

    REDNESS_GONE = "redness_gone"  # the redness is gone: while-redness steps stop
    RED_FLAG = "red_flag"  # a warning sign of infection or a complication: urgent for staff
    NONE = "none"  # noted, nothing changes


class Action(StrEnum):
    """Buttons a step's message carries; the bot words them from its UI catalogs."""

    DONE = "done"  # "Done": the patient did it
    SNOOZE = "snooze"  # "Remind me in 1 hour": a new outbox row
    OUTSIDE = "outside"  # "I'm going outside": starts outdoor mode
    INSIDE = "inside"  # "I'm inside": ends outdoor mode


class CourseEdge(StrEnum):
    """Which end of the window for the next session a ``course_window`` step falls on."""

    START = "start"
    END = "end"


class CourseStage(StrEnum):
    """Where a treatment stands in its course, for ``condition: {course: ...}``."""

    ONGOING = "ongoing"  # another session is due (open-ended courses always)
    COMPLETE = "complete"  # the last session of a finite course (or one beyond it)


class WhileState(StrEnum):
    """Patient states a step can be limited to, checked at send time."""

    REDNESS = "redness"


class SkinType(StrEnum):
    NORMAL = "normal"
    DRY = "dry"
    OILY = "oily"
    COMBINATION = "combination"
    SENSITIVE = "sensitive"


def _slug(value: str) -> str:
    if not _SLUG.match(value) or len(value) > 64:
        raise invalid("slug", f"expected a slug like makeup-24h, got {show(value)}")
    return value


def _course_id(value: str) -> str:
    if not _SLUG.match(value) or len(value) > MAX_COURSE_ID_CHARS:
        raise invalid(
            "course_id",
            f"expected a course id like collagen (at most {MAX_COURSE_ID_CHARS} characters),"
            f" got {show(value)}",
        )
    return value


def _locale(value: Any) -> Any:
    if not isinstance(value, str) or not _LOCALE.match(value):
        raise invalid("locale", f"expected a locale code like en or pt-BR, got {show(value)}")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
CourseId = Annotated[str, AfterValidator(_course_id)]
LocaleCode = Annotated[str, BeforeValidator(_locale)]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)
]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LABEL_CHARS)
]
DayNumber = Annotated[int, Field(ge=0, le=MAX_DAY, strict=True)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


def _raise_if(problems: list[Problem]) -> None:
    if problems:
        raise problems_error(problems)


class LatePolicy(_Model):
    """``send`` however late; ``skip`` beyond ``grace``; ``collapse``: only the newest."""

    policy: LateAction = LateAction.SEND
    grace: Duration | None = None

    @model_validator(mode="after")
    def _grace_fits_policy(self) -> LatePolicy:
        if self.policy is LateAction.SKIP and self.grace is None:
            _raise_if([Problem(("grace",), 'policy "skip" needs a grace, e.g. "6h"')])
        if self.policy is LateAction.SEND and self.grace is not None:
            _raise_if([Problem(("grace",), 'has no effect with policy "send"; remove it')])
        return self


class Condition(_Model):
    """When a step applies: skin types at planning, a patient state at send time."""

    skin_types: tuple[SkinType, ...] | None = Field(default=None, min_length=1)
    # true: only for patients with darker skin or a history of melasma (pigmentation watch).
    pigmentation: bool | None = None
    while_: WhileState | None = Field(default=None, alias="while")
    # Planned only while the course goes on, or only after its last session.
    course: CourseStage | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if (
            self.skin_types is None
            and self.while_ is None
            and self.pigmentation is None
            and self.course is None
        ):
            _raise_if(
                [
                    Problem(
                        (),
                        "give skin_types, pigmentation, while, course, or leave the condition out",
                    )
                ]
            )
        return self


class Answer(_Model):
    """One button of a check-in and what pressing it means."""

    id: Slug
    text: dict[LocaleCode, Label]
    effect: AnswerEffect


class Course(_Model):
    """A course of treatments: how many sessions (None: open-ended) and the window for
    the next session, in weeks after the previous one (the first number is the minimum)."""

    name: dict[LocaleCode, Label]
    sessions: Annotated[int, Field(ge=1, le=MAX_COURSE_SESSIONS, strict=True)] | None = None
    interval_weeks: tuple[Annotated[int, Field(ge=1, le=52)], Annotated[int, Field(ge=1, le=52)]]

    @model_validator(mode="after")
    def _ordered(self) -> Course:
        low, high = self.interval_weeks
        if low > high:
            _raise_if(
                [Problem(("interval_weeks",), f"[{low}, {high}]: the first must not be larger")]
            )
        return self


@dataclass(frozen=True)
class AfterTiming:
    """Exactly ``offset`` after the anchor, in elapsed time."""

    offset: timedelta


@dataclass(frozen=True)
class DailyTiming:
    """Local calendar days ``first``..``last`` after the anchor's date, at local ``times``."""

    first: int
    last: int
    times: tuple[time, ...]


@dataclass(frozen=True)
class IntervalTiming:
    """Every ``interval`` after the anchor until ``until`` local time on the anchor's day."""

    interval: timedelta
    until: time
    max_occurrences: int


@dataclass(frozen=True)
class CourseWindowTiming:
    """The first (``start``) or last (``end``) local day of the window for the next
    session of the treatment's course, at local ``times``; the planner resolves the day."""

    edge: CourseEdge
    times: tuple[time, ...]


Timing = AfterTiming | DailyTiming | IntervalTiming | CourseWindowTiming

_TIMING_KEYS = ("after", "day", "days", "every", "course_window")
_DAY_TIMINGS = (["day"], ["days"], ["course_window"])


class Step(_Model):
    """One message of a protocol: when, under which conditions, and in which words."""

    id: Slug
    kind: StepKind
    text: dict[LocaleCode, Text]
    after: Duration | None = None
    day: DayNumber | None = None
    days: tuple[DayNumber, DayNumber] | None = None
    at: LocalTimes | None = None
    every: Duration | None = None
    until_local: LocalTime | None = None
    course_window: CourseEdge | None = None
    max_occurrences: Annotated[int, Field(ge=1, le=MAX_INTERVAL_OCCURRENCES)] | None = None
    anchor: Anchor = Anchor.TREATMENT
    quiet: QuietRule = QuietRule.DEFER
    late: LatePolicy = LatePolicy()
    condition: Condition | None = None
    answers: tuple[Answer, ...] | None = None
    actions: tuple[Action, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Step:
        _raise_if([*self._timing_problems(), *self._answer_problems()])
        return self

    def _timing_problems(self) -> Iterator[Problem]:
        given = [key for key in _TIMING_KEYS if getattr(self, key) is not None]
        if not given:
            yield Problem(
                ("timing",),
                "no timing: give after, day + at, days + at, course_window + at, or every",
            )
        for extra in given[1:]:
            yield Problem((extra,), f'a step has one timing and "{given[0]}" is already given')
        yield from self._at_problems(given[:1])
        yield from self._interval_problems()
        if self.days is not None and self.days[0] > self.days[1]:
            yield Problem(("days",), f"[{self.days[0]}, {self.days[1]}]: FROM is after TO")
        if self.anchor is Anchor.OUTDOORS and given and given[0] not in ("after", "every"):
            yield Problem(("anchor",), "an outdoors anchor needs after or every timing")

    def _at_problems(self, timing: list[str]) -> Iterator[Problem]:
        if timing in _DAY_TIMINGS and self.at is None:
            yield Problem(("at",), f"required with {timing[0]}: give one or more HH:MM times")
        if timing in (["after"], ["every"]) and self.at is not None:
            yield Problem(("at",), f"not used with {timing[0]}; remove it")
        if self.at is not None and len(self.at) > MAX_TIMES_PER_DAY:
            yield Problem(("at",), f"at most {MAX_TIMES_PER_DAY} times a day")

    def _interval_problems(self) -> Iterator[Problem]:
        if self.every is None:
            for key in ("until_local", "max_occurrences"):
                if getattr(self, key) is not None:
                    yield Problem((key,), "only used with every")
            return
        if self.every < MIN_INTERVAL:
            yield Problem(("every",), "must be at least 15m")
        if self.until_local is None:
            yield Problem(("until_local",), 'required with every, e.g. "19:00"')

    def _answer_problems(self) -> Iterator[Problem]:
        if self.kind is StepKind.CHECKIN and (self.answers is None or len(self.answers) < 2):
            yield Problem(("answers",), "a checkin needs at least two answers")
        if self.kind is not StepKind.CHECKIN and self.answers is not None:
            yield Problem(("answers",), f"only a checkin has answers, this is {self.kind.value}")
        seen: set[str] = set()
        for index, answer in enumerate(self.answers or ()):
            if answer.id in seen:
                yield Problem(("answers", index, "id"), f'duplicate answer id "{answer.id}"')
            seen.add(answer.id)
        effects = {answer.effect for answer in self.answers or ()}
        if AnswerEffect.RED_FLAG in effects and AnswerEffect.NONE not in effects:
            yield Problem(
                ("answers",),
                'red_flag answers need an answer with effect "none" too ("None of these")',
            )
        if {AnswerEffect.RED_FLAG, AnswerEffect.REDNESS_GONE} <= effects:
            yield Problem(
                ("answers",),
                "red_flag and redness_gone answers cannot share a step; ask in separate checkins",
            )

    def timing(self) -> Timing:
        """The step's one timing as a typed value."""
        if self.after is not None:
            return AfterTiming(self.after)
        if self.every is not None and self.until_local is not None:
            limit = self.max_occurrences or MAX_INTERVAL_OCCURRENCES
            return IntervalTiming(self.every, self.until_local, limit)
        if self.course_window is not None:
            return CourseWindowTiming(self.course_window, self.at or ())
        first, last = (self.day, self.day) if self.day is not None else (self.days or (0, 0))
        return DailyTiming(first, last, self.at or ())


def placeholders_in(text: str) -> list[str]:
    """The ``{names}`` used in a text, in order."""
    return _PLACEHOLDER.findall(text)


class ProtocolSpec(_Model):
    """A whole protocol; stored as ``model_dump(mode="json")`` and read back with
    ``model_validate``."""

    slug: Slug
    version: Annotated[int, Field(ge=1, strict=True)]
    name: dict[LocaleCode, Label]
    locales: tuple[LocaleCode, ...] = Field(min_length=1)
    # Named courses; a treatment follows one (the default unless the patient chose).
    courses: dict[CourseId, Course] | None = Field(default=None, min_length=1)
    default_course: CourseId | None = None
    steps: tuple[Step, ...]

    @model_validator(mode="after")
    def _cross_checks(self) -> ProtocolSpec:
        _raise_if(list(_spec_problems(self)))
        return self

    @property
    def base_locale(self) -> str:
        return self.locales[0]

    def resolve_locale(self, locale: str | None) -> str:
        """``locale`` if the protocol has it, else its language part, else the base."""
        if locale in self.locales:
            return locale
        language = (locale or "").split("-")[0].split("_")[0].lower()
        return language if language in self.locales else self.base_locale

    @property
    def default_course_id(self) -> str | None:
        """The course of a treatment nobody chose one for (the only one if there is one)."""
        if self.default_course is not None or not self.courses:
            return self.default_course
        return next(iter(self.courses))

    def course_for(self, course_id: str | None) -> tuple[str, Course] | None:
        """The course ``course_id``, or the default one when it is None or unknown (a
        treatment keeps its id when a new protocol version drops that course)."""
        if not self.courses:
            return None
        if course_id not in self.courses:
            course_id = self.default_course_id
        assert course_id is not None
        return course_id, self.courses[course_id]

    def step(self, step_id: str) -> Step:
        """The step with this id; ``ProtocolError`` if there is none."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise ProtocolError(f'protocol {self.slug} v{self.version} has no step "{step_id}"')

    def checksum(self) -> str:
        """sha256 hex of the canonical JSON form (sorted keys, no spaces)."""
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _spec_problems(spec: ProtocolSpec) -> Iterator[Problem]:
    if not spec.steps:
        yield Problem(("steps",), "a protocol needs at least one step")
    if len(set(spec.locales)) != len(spec.locales):
        yield Problem(("locales",), "a locale is listed twice")
    yield from _locale_problems(spec, ("name",), spec.name)
    yield from _course_problems(spec)
    first_index: dict[str, int] = {}
    for index, step in enumerate(spec.steps):
        where = ("steps", index)
        if step.id in first_index:
            yield Problem(
                (*where, "id"), f"duplicate step id, first used by steps[{first_index[step.id]}]"
            )
        first_index.setdefault(step.id, index)
        yield from _locale_problems(spec, (*where, "text"), step.text)
        if not spec.courses and step.course_window is not None:
            yield Problem((*where, "course_window"), "needs a top-level courses block")
        if not spec.courses and step.condition is not None and step.condition.course is not None:
            yield Problem((*where, "condition", "course"), "needs a top-level courses block")
        for answer_index, answer in enumerate(step.answers or ()):
            yield from _locale_problems(
                spec, (*where, "answers", answer_index, "text"), answer.text
            )


def _course_problems(spec: ProtocolSpec) -> Iterator[Problem]:
    if spec.courses is None:
        if spec.default_course is not None:
            yield Problem(("default_course",), "needs a courses block to choose from")
        return
    if spec.default_course is None and len(spec.courses) > 1:
        yield Problem(("default_course",), "required when there are several courses")
    elif spec.default_course is not None and spec.default_course not in spec.courses:
        known = ", ".join(spec.courses)
        yield Problem(
            ("default_course",), f'"{spec.default_course}" is not one of the courses: {known}'
        )
    for course_id, course in spec.courses.items():
        yield from _locale_problems(spec, ("courses", course_id, "name"), course.name)


def _locale_problems(
    spec: ProtocolSpec, where: tuple[str | int, ...], texts: Mapping[str, str]
) -> Iterator[Problem]:
    for locale in spec.locales:
        if locale not in texts:
            yield Problem((*where, locale), f'missing the "{locale}" text')
    for locale, text in texts.items():
        if locale not in spec.locales:
            yield Problem((*where, locale), f'locale "{locale}" is not listed in locales')
        yield from _placeholder_problems(spec, (*where, locale), text)


def _placeholder_problems(
    spec: ProtocolSpec, where: tuple[str | int, ...], text: str
) -> Iterator[Problem]:
    known = ", ".join("{" + name + "}" for name in sorted(PLACEHOLDERS))
    for name in placeholders_in(text):
        if name not in PLACEHOLDERS:
            yield Problem(where, f"unknown placeholder {{{name}}}; known: {known}")
        elif name in COURSE_PLACEHOLDERS and not spec.courses:
            yield Problem(where, f"{{{name}}} needs a top-level courses block")


def parse_protocol(data: str | Mapping[str, Any], source: str) -> ProtocolSpec:
    """Validate a protocol given as YAML text or as already-parsed data.

    ``source`` names the file in error messages. Raises ``ProtocolError`` with
    one line per problem.
    """
    raw: Any = data
    if isinstance(data, str):
        try:
            raw = read_yaml(data)
        except yaml.YAMLError as error:
            raise ProtocolError(f"{source}: {describe_yaml_error(error)}") from error
    if not isinstance(raw, Mapping):
        raise ProtocolError(f"{source}: expected a mapping at the top level, got {show(raw)}")
    try:
        return ProtocolSpec.model_validate(raw)
    except ValidationError as error:
        found = describe(error, source, raw, _keys_at)
        text = "\n".join(finding.line for finding in found)
        located = tuple((finding.step, finding.line) for finding in found)
        raise ProtocolError(text, located) from error


def _keys_at(path: tuple[str, ...]) -> list[str]:
    """The field names allowed at a location (indices left out), for typo hints."""
    if len(path) >= 2 and path[0] == "courses":
        path = ("courses", *path[2:])  # the course id is a key, not a field
    model = _MODEL_AT.get(path)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


_MODEL_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): ProtocolSpec,
    ("courses",): Course,
    ("steps",): Step,
    ("steps", "late"): LatePolicy,
    ("steps", "condition"): Condition,
    ("steps", "answers"): Answer,
}


def load_protocol(path: str | os.PathLike[str]) -> ProtocolSpec:
    """Read and validate one protocol file; errors name the file as given."""
    source = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ProtocolError(f"{source}: cannot read the file: {error}") from error
    return parse_protocol(text, source)


def bundled_protocol(slug: str = "microneedling") -> ProtocolSpec:
    """A protocol shipped in ``schedules/protocols/``."""
    folder = resources.files("schedules").joinpath("protocols")
    file = folder.joinpath(f"{slug}.yaml")
    if not _SLUG.match(slug) or not file.is_file():
        available = sorted(f.name.removesuffix(".yaml") for f in folder.iterdir())
        raise ProtocolError(f"no bundled protocol {slug!r}; available: {', '.join(available)}")
    return parse_protocol(file.read_text(encoding="utf-8"), f"{slug}.yaml")
