"""The protocol schema, its loader's error messages, and the bundled microneedling file."""

from __future__ import annotations

import json
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from schedules.errors import ProtocolError
from schedules.protocol import (
    AfterTiming,
    Anchor,
    AnswerEffect,
    CourseEdge,
    CourseStage,
    CourseWindowTiming,
    DailyTiming,
    IntervalTiming,
    LateAction,
    ProtocolSpec,
    QuietRule,
    StepKind,
    WhileState,
    bundled_protocol,
    load_protocol,
    parse_protocol,
)

FIXTURES = Path(__file__).parents[1] / "data" / "protocols"
BUNDLED_FILE = Path(__file__).parents[2] / "schedules" / "protocols" / "microneedling.yaml"
LOCALES = ("en", "es", "de", "ru")


@pytest.fixture(scope="module")
def spec() -> ProtocolSpec:
    return bundled_protocol()


def _minimal(**changes: Any) -> dict[str, Any]:
    """A one-step, one-locale protocol; a change to None removes that key."""
    step = {"id": "only", "kind": "advice", "after": "1h", "text": {"en": "Hello."}} | changes
    return {
        "slug": "tiny",
        "version": 1,
        "name": {"en": "Tiny"},
        "locales": ["en"],
        "steps": [{key: value for key, value in step.items() if value is not None}],
    }


def _error_of(path: Path) -> str:
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    return str(caught.value)


# --- the bundled protocol -------------------------------------------------------------


def test_the_bundled_protocol_loads(spec: ProtocolSpec) -> None:
    assert spec.slug == "microneedling"
    assert spec.version >= 1
    assert spec.locales == LOCALES
    assert spec.base_locale == "en"
    assert spec.courses is not None
    assert spec.default_course == "standard"
    assert {cid: (c.sessions, c.interval_weeks) for cid, c in spec.courses.items()} == {
        "standard": (None, (4, 6)),
        "collagen": (3, (2, 4)),
        "scars": (6, (4, 6)),
    }


def test_load_protocol_reads_the_bundled_file_like_bundled_protocol(spec: ProtocolSpec) -> None:
    assert load_protocol(BUNDLED_FILE) == spec


# One row per guidance item of DESIGN.md "Protocols are data": step id, English key words.
GUIDANCE = [
    ("expected-effects", ["bleeding", "redness", "tight", "itching", "24 hours", "2–3 days"]),
    ("heat-advice", ["saunas", "steam rooms", "hot baths", "hot showers", "redness"]),
    ("redness-checkin", ["redness", "gone"]),
    ("red-flag-check-day-2", ["pus", "yellow crust", "fever", "spreading", "blisters", "worse"]),
    ("red-flag-check-day-5", ["pus", "yellow crust", "fever", "spreading", "blisters", "worse"]),
    ("sun-protection", ["SPF 30", "30 minutes", "broad-spectrum", "sun"]),
    ("spf-reapply-outdoors", ["reapply", "SPF 30", "outside"]),
    ("makeup-allowed", ["24 hours", "makeup"]),
    ("moisturise-morning", ["moisturiser", "Aquaphor", "Cetaphil", "Vaseline"]),
    ("moisturise-evening-dry", ["dry", "Aquaphor", "Cetaphil", "Vaseline"]),
    ("peeling", ["peel", "flake", "pick", "scratch", "moisturising", "3 to 5"]),
    ("avoid-irritants", ["retinoids", "acids", "exfoliating", "dirty", "polluted"]),
    ("vitamin-c", ["vitamin C", "antioxidant"]),
    ("breakouts", ["spots", "milia"]),
    ("dark-patches", ["darker patches", "darker skin"]),
    ("pigmentation-watch", ["dark patches", "SPF 30", "every day", "{clinic_name}"]),
    ("pigmentation-check", ["dark patches", "daylight", "{clinic_name}", "SPF 30"]),
    ("first-improvements", ["first improvements", "full results", "4–6 weeks"]),
    ("book-next-session-start", ["next session", "{next_session_weeks}", "book"]),
    ("book-next-session-end", ["another session", "book", "results", "{next_session_weeks}"]),
    ("course-complete", ["course", "{course_sessions}", "complete", "maintenance"]),
    ("contraindications", ["rosacea", "eczema", "scar", "not a doctor", "{clinic_name}"]),
]


@pytest.mark.parametrize(("step_id", "words"), GUIDANCE)
def test_every_guidance_item_is_a_step(spec: ProtocolSpec, step_id: str, words: list[str]) -> None:
    text = spec.step(step_id).text["en"]
    missing = [word for word in words if word.lower() not in text.lower()]
    assert not missing, f"{step_id} does not mention {missing}"


def test_the_bundled_protocol_has_exactly_the_guidance_steps(spec: ProtocolSpec) -> None:
    assert {step.id for step in spec.steps} == {step_id for step_id, _ in GUIDANCE}


def test_immediate_messages_go_out_right_after_treatment(spec: ProtocolSpec) -> None:
    for step_id in ("expected-effects", "contraindications"):
        assert spec.step(step_id).timing() == AfterTiming(timedelta(0))


def test_heat_advice_and_redness_checkin_run_while_red(spec: ProtocolSpec) -> None:
    heat = spec.step("heat-advice")
    assert heat.timing() == DailyTiming(0, 14, (time(9, 0),))
    assert heat.condition is not None
    assert heat.condition.while_ is WhileState.REDNESS
    checkin = spec.step("redness-checkin")
    assert checkin.kind is StepKind.CHECKIN
    assert isinstance(checkin.timing(), DailyTiming)
    assert (checkin.days, checkin.at) == ((1, 14), (time(10, 0),))
    assert checkin.condition is not None
    assert checkin.condition.while_ is WhileState.REDNESS
    effects = {answer.id: answer.effect for answer in checkin.answers or ()}
    assert effects == {
        "gone": AnswerEffect.REDNESS_GONE,
        "not-yet": AnswerEffect.NONE,
        "not-sure": AnswerEffect.NONE,
    }


def test_red_flag_checks_ask_on_days_two_and_five_mid_morning(spec: ProtocolSpec) -> None:
    day_2, day_5 = spec.step("red-flag-check-day-2"), spec.step("red-flag-check-day-5")
    assert day_2.timing() == DailyTiming(2, 2, (time(10, 30),))
    assert day_5.timing() == DailyTiming(5, 5, (time(10, 30),))
    for check in (day_2, day_5):
        assert check.kind is StepKind.CHECKIN
        assert check.condition is None  # asked of everyone, red or not
        assert check.quiet is QuietRule.DEFER  # moved out of quiet hours, never dropped
        effects = {answer.id: answer.effect for answer in check.answers or ()}
        assert effects == {
            "pus": AnswerEffect.RED_FLAG,
            "fever": AnswerEffect.RED_FLAG,
            "spreading": AnswerEffect.RED_FLAG,
            "blisters": AnswerEffect.RED_FLAG,
            "worse": AnswerEffect.RED_FLAG,
            "none": AnswerEffect.NONE,
        }
        labels = {answer.id: answer.text["en"] for answer in check.answers or ()}
        assert labels["pus"] == "Pus or yellow crust"
        assert labels["none"] == "None of these"
    assert (day_5.text, day_5.answers) == (day_2.text, day_2.answers)  # one question, twice


def test_the_red_flag_checks_do_not_coincide_with_the_redness_checkin(spec: ProtocolSpec) -> None:
    redness = spec.step("redness-checkin")
    for step_id in ("red-flag-check-day-2", "red-flag-check-day-5"):
        assert not set(spec.step(step_id).at or ()) & set(redness.at or ())


def test_sun_steps_cover_days_one_to_fourteen_and_outings(spec: ProtocolSpec) -> None:
    sun = spec.step("sun-protection")
    assert (sun.days, sun.anchor) == ((1, 14), Anchor.TREATMENT)
    outdoors = spec.step("spf-reapply-outdoors")
    assert outdoors.anchor is Anchor.OUTDOORS
    assert outdoors.timing() == IntervalTiming(timedelta(hours=2), time(19, 0), 6)
    assert outdoors.quiet is QuietRule.SKIP


def test_makeup_is_exactly_24_hours_after_and_deferred_then_sent(spec: ProtocolSpec) -> None:
    makeup = spec.step("makeup-allowed")
    assert makeup.timing() == AfterTiming(timedelta(hours=24))
    assert makeup.quiet is QuietRule.DEFER
    assert makeup.late.policy is LateAction.SEND


def test_moisturising_is_daily_for_a_week_and_twice_for_dry_skin(spec: ProtocolSpec) -> None:
    assert spec.step("moisturise-morning").days == (0, 7)
    evening = spec.step("moisturise-evening-dry")
    assert evening.days == (0, 7)
    assert evening.condition is not None
    assert evening.condition.skin_types is not None
    assert [t.value for t in evening.condition.skin_types] == ["dry"]


def test_results_and_nudges_fall_on_their_days(spec: ProtocolSpec) -> None:
    assert spec.step("first-improvements").day == 7
    assert spec.step("peeling").day == 3
    start, end = spec.step("book-next-session-start"), spec.step("book-next-session-end")
    complete = spec.step("course-complete")
    assert start.timing() == CourseWindowTiming(CourseEdge.START, (time(11, 0),))
    assert end.timing() == CourseWindowTiming(CourseEdge.END, (time(11, 0),))
    assert complete.timing() == CourseWindowTiming(CourseEdge.START, (time(11, 0),))
    assert start.kind is end.kind is StepKind.NUDGE
    for step, stage in ((start, "ongoing"), (end, "ongoing"), (complete, "complete")):
        assert step.condition is not None
        assert step.condition.course is CourseStage(stage)
        assert step.late.policy is LateAction.SEND


def test_every_step_speaks_every_locale_briefly(spec: ProtocolSpec) -> None:
    for step in spec.steps:
        assert set(step.text) == set(LOCALES), step.id
        for locale, text in step.text.items():
            assert 0 < len(text) <= 600, (step.id, locale, len(text))


def test_every_step_states_its_quiet_rule_and_late_policy() -> None:
    raw = yaml.safe_load(BUNDLED_FILE.read_text(encoding="utf-8"))
    for step in raw["steps"]:
        assert "quiet" in step, step["id"]
        assert "policy" in step["late"], step["id"]


def test_daily_advice_does_not_pile_up_after_an_outage(spec: ProtocolSpec) -> None:
    for step in spec.steps:
        if step.days is not None:
            assert step.late.policy in (LateAction.COLLAPSE, LateAction.SKIP), step.id
            assert step.late.grace is not None, step.id


# --- round trip and checksum ----------------------------------------------------------


def test_the_spec_round_trips_through_json(spec: ProtocolSpec) -> None:
    stored = json.loads(json.dumps(spec.model_dump(mode="json")))
    again = ProtocolSpec.model_validate(stored)
    assert again == spec
    assert again.checksum() == spec.checksum()
    assert again.model_dump(mode="json") == stored


def test_the_json_form_keeps_the_yaml_spelling(spec: ProtocolSpec) -> None:
    dumped = spec.model_dump(mode="json")
    steps = {step["id"]: step for step in dumped["steps"]}
    assert steps["makeup-allowed"]["after"] == "1d"
    assert steps["heat-advice"]["at"] == ["09:00"]
    assert steps["heat-advice"]["condition"]["while"] == "redness"
    assert steps["spf-reapply-outdoors"]["until_local"] == "19:00"


def test_the_checksum_is_stable_and_changes_with_content(spec: ProtocolSpec) -> None:
    assert spec.checksum() == bundled_protocol().checksum()
    assert len(spec.checksum()) == 64
    changed = spec.model_dump(mode="json")
    changed["steps"][0]["text"]["en"] += " Take care."
    assert ProtocolSpec.model_validate(changed).checksum() != spec.checksum()


def test_parse_protocol_accepts_parsed_data() -> None:
    spec = parse_protocol(_minimal(), "inline")
    assert spec.step("only").timing() == AfterTiming(timedelta(hours=1))


def test_an_unknown_step_id_is_a_protocol_error(spec: ProtocolSpec) -> None:
    with pytest.raises(ProtocolError, match='no step "nope"'):
        spec.step("nope")


def test_an_unknown_bundled_protocol_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="microneedling"):
        bundled_protocol("tattoo")


# --- YAML reading ---------------------------------------------------------------------


def test_unquoted_times_and_yes_no_stay_text() -> None:
    text = (
        "slug: tiny\nversion: 1\nname: {en: Tiny}\nlocales: [en]\nsteps:\n"
        "  - {id: evening, kind: checkin, day: 1, at: 19:00, text: {en: Fine},\n"
        "     answers: [{id: yes, effect: none, text: {en: Yes}},\n"
        "               {id: no, effect: none, text: {en: No}}]}\n"
    )
    step = parse_protocol(text, "inline.yaml").step("evening")
    assert step.at == (time(19, 0),)
    assert [answer.id for answer in step.answers or ()] == ["yes", "no"]


def test_a_yaml_syntax_error_names_file_and_line() -> None:
    message = _error_of(FIXTURES / "yaml_syntax.yaml")
    assert "yaml_syntax.yaml" in message
    assert "line 4" in message


def test_a_repeated_yaml_key_is_an_error_with_its_line() -> None:
    message = _error_of(FIXTURES / "duplicate_key.yaml")
    assert "duplicate_key.yaml" in message
    assert "line 9" in message
    assert "'after' twice" in message


def test_an_unreadable_file_is_a_protocol_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert "nowhere.yaml" in _error_of(missing)


def test_a_top_level_list_is_refused() -> None:
    with pytest.raises(ProtocolError, match=r"list\.yaml: expected a mapping"):
        parse_protocol("- a\n- b\n", "list.yaml")


# --- malformed protocols: each names file, step and field -----------------------------

MALFORMED = [
    ("bad_time.yaml", 'step "makeup-24h" (steps[1])', "at", 'expected HH:MM, got "25:00"'),
    ("unknown_key.yaml", 'step "makeup-24h" (steps[1])', "offset", "unknown field"),
    ("duplicate_id.yaml", 'step "welcome" (steps[1])', "id", "duplicate step id"),
    ("missing_locale.yaml", 'step "sun-care" (steps[1])', "text.de", 'missing the "de" text'),
    ("two_timings.yaml", 'step "makeup-24h" (steps[1])', "day", "one timing"),
    (
        "unknown_placeholder.yaml",
        'step "greeting" (steps[1])',
        "text.en",
        "unknown placeholder {patient_name}",
    ),
    ("missing_id.yaml", "step steps[1]", "id", "required field is missing"),
    ("bad_effect.yaml", 'step "redness-checkin" (steps[1])', "answers[0].effect", '"cured"'),
    ("bad_duration.yaml", 'step "makeup-24h" (steps[1])', "after", '"24 hours"'),
    ("bad_kind.yaml", 'step "makeup-24h" (steps[1])', "kind", '"reminder"'),
    ("skip_without_grace.yaml", 'step "sun-care" (steps[1])', "late.grace", "needs a grace"),
    ("every_without_until.yaml", 'step "spf-reapply" (steps[1])', "until_local", "required"),
    ("answers_on_advice.yaml", 'step "sun-care" (steps[1])', "answers", "only a checkin"),
    (
        "red_flag_without_none.yaml",
        'step "warning-signs" (steps[1])',
        "answers",
        'red_flag answers need an answer with effect "none"',
    ),
]


@pytest.mark.parametrize(("name", "step", "field", "detail"), MALFORMED)
def test_a_malformed_protocol_names_file_step_and_field(
    name: str, step: str, field: str, detail: str
) -> None:
    message = _error_of(FIXTURES / name)
    expected = f'{FIXTURES / name}: {step}, field "{field}": '
    line = next((line for line in message.splitlines() if line.startswith(expected)), None)
    assert line is not None, message
    assert detail in line


def test_every_malformed_fixture_is_covered() -> None:
    covered = {name for name, *_ in MALFORMED} | {
        "yaml_syntax.yaml",
        "duplicate_key.yaml",
        "several_problems.yaml",
    }
    assert {path.name for path in FIXTURES.glob("*.yaml")} == covered


def test_all_problems_are_listed_one_per_line() -> None:
    lines = _error_of(FIXTURES / "several_problems.yaml").splitlines()
    assert len(lines) == 3
    assert all(line.startswith(str(FIXTURES / "several_problems.yaml")) for line in lines)
    assert 'step "makeup-24h" (steps[1]), field "at": expected HH:MM, got "7pm"' in lines[0]
    assert 'step "heat" (steps[2]), field "kind"' in lines[1]
    assert 'step "spf" (steps[3]), field "after"' in lines[2]


def test_a_typo_in_a_key_suggests_the_right_one() -> None:
    data = _minimal(untill_local="19:00")
    with pytest.raises(ProtocolError, match=r'"untill_local": .*did you mean "until_local"'):
        parse_protocol(data, "typo.yaml")


def test_top_level_problems_name_the_field() -> None:
    data = _minimal()
    del data["version"]
    data["locales"] = ["en", "fr"]
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(data, "top.yaml")
    assert 'top.yaml: field "version": required field is missing' in str(caught.value)


def test_an_outdoors_interval_step_is_valid() -> None:
    data = _minimal(after=None, every="2h", until_local="19:00", anchor="outdoors")
    step = parse_protocol(data, "ok.yaml").step("only")
    assert step.timing() == IntervalTiming(timedelta(hours=2), time(19, 0), 99)


@pytest.mark.parametrize(
    ("changes", "field", "detail"),
    [
        ({"after": None, "days": [5, 3], "at": "09:00"}, "days", "FROM is after TO"),
        ({"after": None}, "timing", "no timing"),
        ({"at": "09:00"}, "at", "not used with after"),
        ({"after": None, "day": 1}, "at", "required with day"),
        ({"after": None, "day": 1, "at": ["09:00", "09:00"]}, "at", "listed twice"),
        ({"max_occurrences": 3}, "max_occurrences", "only used with every"),
        ({"anchor": "outdoors", "after": None, "day": 1, "at": "09:00"}, "anchor", "outdoors"),
        ({"kind": "checkin"}, "answers", "at least two answers"),
        ({"late": {"policy": "send", "grace": "1h"}}, "late.grace", "no effect"),
        ({"condition": {}}, "condition", "give skin_types"),
        ({"condition": {"skin_types": ["scaly"]}}, "condition.skin_types[0]", '"scaly"'),
        ({"text": {"en": "Hi {next_session_weeks}"}}, "text.en", "course"),
        ({"text": {"en": "   "}}, "text.en", "at least 1 character"),
        ({"text": {"en": "Hi", "fr": "Salut"}}, "text.fr", "not listed in locales"),
        ({"text": {"EN!": "Hi"}}, "text.EN!", "locale code"),
        ({"quiet": "later"}, "quiet", '"later"'),
        ({"after": "{x}"}, "after", 'got "{x}"'),
        ({"after": None, "every": "5m", "until_local": "19:00"}, "every", "at least 15m"),
    ],
)
def test_a_broken_step_rule_names_the_field(
    changes: dict[str, Any], field: str, detail: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(_minimal(**changes), "rules.yaml")
    prefix = f'rules.yaml: step "only" (steps[0]), field "{field}": '
    lines = [line for line in str(caught.value).splitlines() if line.startswith(prefix)]
    assert lines, str(caught.value)
    assert detail in lines[0]


def _checkin(*effects: str) -> dict[str, Any]:
    answers = [
        {"id": f"a{index}", "effect": effect, "text": {"en": f"Answer {index}"}}
        for index, effect in enumerate(effects)
    ]
    return _minimal(kind="checkin", after=None, day=2, at="10:30", answers=answers)


def test_a_red_flag_checkin_with_a_none_answer_is_valid() -> None:
    step = parse_protocol(_checkin("red_flag", "red_flag", "none"), "ok.yaml").step("only")
    assert [answer.effect for answer in step.answers or ()] == [
        AnswerEffect.RED_FLAG,
        AnswerEffect.RED_FLAG,
        AnswerEffect.NONE,
    ]


@pytest.mark.parametrize(
    ("effects", "detail"),
    [
        (("red_flag", "red_flag"), 'need an answer with effect "none" too ("None of these")'),
        (("red_flag", "redness_gone", "none"), "cannot share a step"),
    ],
)
def test_red_flag_answers_are_checked(effects: tuple[str, ...], detail: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(_checkin(*effects), "flags.yaml")
    prefix = 'flags.yaml: step "only" (steps[0]), field "answers": '
    lines = [line for line in str(caught.value).splitlines() if line.startswith(prefix)]
    assert lines, str(caught.value)
    assert detail in lines[0]


def test_a_step_id_must_be_a_slug() -> None:
    with pytest.raises(ProtocolError, match=r'step "Not A Slug" \(steps\[0\]\), field "id"'):
        parse_protocol(_minimal(id="Not A Slug"), "rules.yaml")
