"""What an owner reads before publishing: the changes between two protocol versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from schedules.protocol import ProtocolSpec, bundled_protocol
from schedules.protocol_diff import (
    changed,
    changed_step_ids,
    describe_timing,
    diff,
    rewordings,
    same_content,
)

Data = dict[str, Any]


@pytest.fixture(scope="module")
def base() -> ProtocolSpec:
    return bundled_protocol()


def edited(spec: ProtocolSpec, edit: Callable[[Data], None]) -> ProtocolSpec:
    data = spec.model_dump(mode="json")
    edit(data)
    return ProtocolSpec.model_validate(data)


def step(data: Data, step_id: str) -> Data:
    found: Data = next(s for s in data["steps"] if s["id"] == step_id)
    return found


def test_the_same_protocol_has_no_changes_whatever_its_version(base: ProtocolSpec) -> None:
    later = base.model_copy(update={"version": 7})

    assert diff(base, later) == []
    assert same_content(base, later)
    assert changed_step_ids(base, later) == frozenset()


def test_an_added_step_is_named_with_its_timing(base: ProtocolSpec) -> None:
    def add(data: Data) -> None:
        data["steps"].append(
            step(data, "red-flag-check-day-2") | {"id": "red-flag-check-day-3", "day": 3}
        )

    new = edited(base, add)

    assert diff(base, new) == ["+ step red-flag-check-day-3 (day 3 10:30)"]
    assert changed_step_ids(base, new) == {"red-flag-check-day-3"}
    assert not same_content(base, new)


def test_a_removed_step_is_named_with_its_timing(base: ProtocolSpec) -> None:
    new = edited(base, lambda d: d["steps"].remove(step(d, "vitamin-c")))

    assert diff(base, new) == ["- step vitamin-c (day 4 12:00)"]
    assert changed_step_ids(base, new) == {"vitamin-c"}


@pytest.mark.parametrize(
    ("step_id", "changes", "line"),
    [
        ("makeup-allowed", {"after": "48h"}, "~ step makeup-allowed: after 24h → 48h"),
        ("avoid-irritants", {"after": "1h30m"}, "~ step avoid-irritants: after 3h → 1h30m"),
        ("peeling", {"day": 4}, "~ step peeling: day 3 12:00 → 4 12:00"),
        ("peeling", {"at": ["12:00", "18:00"]}, "~ step peeling: day 3 12:00 → 12:00, 18:00"),
        (
            "sun-protection",
            {"days": [1, 21]},
            "~ step sun-protection: days 1–14 08:30 → 1–21 08:30",
        ),
        (
            "makeup-allowed",
            {"after": None, "day": 2, "at": "09:00"},
            "~ step makeup-allowed: after 24h → day 2 09:00",
        ),
        (
            "spf-reapply-outdoors",
            {"every": "90m"},
            "~ step spf-reapply-outdoors: every 2h until 19:00 at most 6 times from outdoors"
            " → 1h30m until 19:00 at most 6 times from outdoors",
        ),
        (
            "book-next-session-start",
            {"at": "12:00"},
            "~ step book-next-session-start: course window start 11:00 → 12:00",
        ),
    ],
)
def test_a_timing_change_says_before_and_after(
    base: ProtocolSpec, step_id: str, changes: Data, line: str
) -> None:
    def edit(data: Data) -> None:
        target = step(data, step_id)
        for key, value in changes.items():
            if value is None:
                del target[key]
            else:
                target[key] = value

    new = edited(base, edit)

    assert diff(base, new) == [line]
    assert changed_step_ids(base, new) == {step_id}


def test_text_changes_name_the_step_and_the_locale(base: ProtocolSpec) -> None:
    def edit(data: Data) -> None:
        step(data, "peeling")["text"]["en"] = "Let peeling skin come off on its own."
        step(data, "peeling")["text"]["de"] = "Lassen Sie die Haut sich selbst schälen."

    assert diff(base, edited(base, edit)) == [
        "~ step peeling text (en) changed",
        "~ step peeling text (de) changed",
    ]


def test_rewordings_give_the_text_before_and_after_per_language(base: ProtocolSpec) -> None:
    def edit(data: Data) -> None:
        step(data, "peeling")["text"]["en"] = "Let peeling skin come off on its own."
        step(data, "makeup-allowed")["after"] = "48h"  # a timing change is not a rewording

    [change] = rewordings(base, edited(base, edit))
    assert (change.step_id, change.locale) == ("peeling", "en")
    assert change.before == base.step("peeling").text["en"]
    assert change.after == "Let peeling skin come off on its own."


def test_policies_conditions_and_buttons_are_changes_too(base: ProtocolSpec) -> None:
    def edit(data: Data) -> None:
        makeup = step(data, "makeup-allowed")
        makeup["quiet"] = "skip"
        makeup["late"] = {"policy": "skip", "grace": "6h"}
        makeup["condition"] = {"skin_types": ["dry", "sensitive"]}
        makeup["actions"] = ["done"]

    assert diff(base, edited(base, edit)) == [
        "~ step makeup-allowed quiet hours: defer → skip",
        "~ step makeup-allowed when late: send → skip after 6h",
        "~ step makeup-allowed condition: always → skin dry/sensitive",
        "~ step makeup-allowed buttons: none → done",
    ]


def test_answer_changes_name_the_answer(base: ProtocolSpec) -> None:
    def edit(data: Data) -> None:
        checkin = step(data, "red-flag-check-day-2")
        checkin["answers"] = [a for a in checkin["answers"] if a["id"] != "blisters"]
        checkin["answers"][0]["text"]["es"] = "Pus"
        checkin["answers"].insert(0, checkin["answers"][1] | {"id": "chills"})
        fever = next(a for a in checkin["answers"] if a["id"] == "fever")
        fever["effect"] = "none"

    assert diff(base, edited(base, edit)) == [
        "~ step red-flag-check-day-2 answer blisters removed",
        "~ step red-flag-check-day-2 answer chills added (red_flag)",
        "~ step red-flag-check-day-2 answer pus text (es) changed",
        "~ step red-flag-check-day-2 answer fever: red_flag → none",
    ]


def test_courses_and_names_are_compared_too(base: ProtocolSpec) -> None:
    def edit(data: Data) -> None:
        data["name"]["en"] = "Microneedling: your aftercare"
        data["courses"]["collagen"]["sessions"] = 4
        data["courses"]["scars"]["interval_weeks"] = [5, 8]
        del data["courses"]["standard"]
        data["default_course"] = "collagen"

    assert diff(base, edited(base, edit)) == [
        "~ name (en) changed",
        "- course standard",
        "~ course collagen sessions: 3 → 4",
        "~ course scars next session after: 4–6 weeks → 5–8 weeks",
        "~ default course: standard → collagen",
    ]


def test_a_reordered_step_is_one_line(base: ProtocolSpec) -> None:
    def edit(data: Data) -> None:
        data["steps"].append(data["steps"].pop(0))

    assert diff(base, edited(base, edit)) == ["~ step order changed"]
    assert changed_step_ids(base, edited(base, edit)) == frozenset()


@pytest.mark.parametrize(
    ("before", "after", "line"),
    [
        ("after 24h", "after 48h", "after 24h → 48h"),
        ("day 3 10:30", "day 3 11:00", "day 3 10:30 → 11:00"),
        ("after 24h", "day 2 09:00", "after 24h → day 2 09:00"),
        ("day 3", "day 4", "day 3 → 4"),
    ],
)
def test_words_both_sides_share_are_said_once(before: str, after: str, line: str) -> None:
    assert changed(before, after) == line


def test_timings_read_as_an_owner_says_them(base: ProtocolSpec) -> None:
    assert describe_timing(base.step("expected-effects")) == "at once"
    assert describe_timing(base.step("makeup-allowed")) == "after 24h"
    assert describe_timing(base.step("peeling")) == "day 3 12:00"
