"""Broken protocol files: each gives a clear error naming the file (and the step and field
where there is one), through the loader and through ``aftercare protocol check``; never a
traceback, whatever the bytes.

``tests/unit/test_protocol.py`` already covers YAML syntax errors, repeated keys, unknown
fields, bad times, kinds and durations, duplicate step ids and missing locale texts; this
adds what a careless or hostile file can hold beyond those: nothing at all, binary junk,
other encodings, wrong types everywhere, negative offsets, references to courses that do
not exist, YAML tags that would run code, deep nesting, odd keys, and random mutations of
the bundled protocol.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.cli import app
from schedules.errors import AftercareError, ProtocolError
from schedules.protocol import load_protocol, parse_protocol

BUNDLED = Path(__file__).parents[2] / "schedules" / "protocols" / "microneedling.yaml"
HEAD = "slug: tiny\nversion: 1\nname: {en: Tiny}\nlocales: [en]\n"
STEP = '{id: hello, kind: advice, after: 1h, text: {en: "Hi."}}'


def _steps(*steps: str) -> str:
    return HEAD + "steps:\n" + "".join(f"  - {step}\n" for step in steps)


def _step(**changes: str) -> str:
    fields = {"id": "hello", "kind": "advice", "after": "1h", "text": '{en: "Hi."}'} | changes
    return "{" + ", ".join(f"{k}: {v}" for k, v in fields.items() if v != "DROP") + "}"


# name -> (file content, what the first error line must contain after the file name)
TEXT_CASES: dict[str, tuple[str, str]] = {
    "empty": ("", "expected a mapping at the top level, got nothing"),
    "only-a-comment": ("# to do\n", "expected a mapping at the top level, got nothing"),
    "top-level-text": ("microneedling\n", 'expected a mapping at the top level, got "microneedling"'),
    "top-level-number": ("42\n", "expected a mapping at the top level"),
    "two-documents": (HEAD + "---\n" + HEAD, "YAML syntax error at line 5"),
    "tab-indent": (HEAD + "steps:\n\t- " + STEP + "\n", "YAML syntax error at line 6"),
    "unclosed-quote": (HEAD + 'steps:\n  - {id: "hello, kind: advice}\n', "YAML syntax error"),
    "python-tag": ("!!python/object/apply:os.system [echo pwned]\n", "could not determine a constructor"),
    "integer-keys": ("1: one\n2: two\n", 'field "slug": required field is missing'),
    "version-as-text": (HEAD.replace("version: 1", "version: one") + "steps: [" + STEP + "]\n", 'field "version"'),
    "version-zero": (HEAD.replace("version: 1", "version: 0") + "steps: [" + STEP + "]\n", 'field "version"'),
    "name-as-text": (HEAD.replace("{en: Tiny}", "Tiny") + "steps: [" + STEP + "]\n", 'field "name"'),
    "no-locales": (HEAD.replace("[en]", "[]") + "steps: [" + STEP + "]\n", 'field "locales"'),
    "steps-as-text": (HEAD + "steps: all of them\n", 'field "steps"'),
    "steps-as-mapping": (HEAD + "steps: {hello: 1}\n", 'field "steps"'),
    "no-steps": (HEAD + "steps: []\n", 'field "steps": a protocol needs at least one step'),
    "step-as-text": (_steps("hello"), "step steps[0]"),
    "step-null": (_steps("null"), "step steps[0]"),
    "text-as-number": (_steps(_step(text="42")), 'step "hello" (steps[0]), field "text"'),
    "text-as-list": (_steps(_step(text="[Hi]")), 'step "hello" (steps[0]), field "text"'),
    "text-missing": (_steps(_step(text="DROP")), 'step "hello" (steps[0]), field "text": required'),
    "text-null": (_steps(_step(text="{en: null}")), 'step "hello" (steps[0]), field "text.en"'),
    "at-as-number": (_steps(_step(after="DROP", day="1", at="900")), 'step "hello" (steps[0]), field "at"'),
    "days-as-text": (_steps(_step(after="DROP", days='"1-3"', at='"09:00"')), 'field "days"'),
    "day-as-float": (_steps(_step(after="DROP", day="1.5", at='"09:00"')), 'field "day"'),
    "day-as-bool": (_steps(_step(after="DROP", day="true", at='"09:00"')), 'field "day"'),
    "negative-day": (_steps(_step(after="DROP", day="-1", at='"09:00"')), 'field "day"'),
    "negative-days": (_steps(_step(after="DROP", days="[-2, 3]", at='"09:00"')), 'field "days[0]"'),
    "negative-after": (_steps(_step(after='"-24h"')), 'step "hello" (steps[0]), field "after"'),
    "zero-after-unit": (_steps(_step(after='"h"')), 'field "after"'),
    "negative-every": (_steps(_step(after="DROP", every='"-2h"', until_local='"19:00"')), 'field "every"'),
    "zero-occurrences": (_steps(_step(after="DROP", every='"2h"', until_local='"19:00"', max_occurrences="0")), 'field "max_occurrences"'),
    "huge-day": (_steps(_step(after="DROP", day="99999999999999999999", at='"09:00"')), 'field "day"'),
    "time-past-midnight": (_steps(_step(after="DROP", day="1", at='"24:00"')), 'field "at"'),
    "missing-course": (HEAD + "default_course: collagen\nsteps: [" + STEP + "]\n", 'field "default_course": needs a courses block'),
    "course-window-without-courses": (_steps(_step(after="DROP", course_window="start", at='"09:00"')), 'field "course_window": needs a top-level courses block'),
    "unknown-course-stage": (_steps(_step(condition="{course: someday}")), 'field "condition.course"'),
    "late-as-text": (_steps(_step(late="later")), 'field "late"'),
    "answers-as-text": (_steps(_step(kind="checkin", answers="yes")), 'field "answers"'),
    "null-key": (HEAD + "null: 1\nsteps: [" + STEP + "]\n", "keys should be strings"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(TEXT_CASES))
def test_a_broken_file_gives_one_clear_line_per_problem_naming_the_file(
    case: str, tmp_path: Path
) -> None:
    text, expected = TEXT_CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    lines = str(caught.value).splitlines()
    assert lines
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    assert any(expected in line for line in lines), lines
    assert "Traceback" not in str(caught.value)


BYTE_CASES: dict[str, bytes] = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "latin-1": "slug: tiny\nname: {en: Café crème}\n".encode("latin-1"),
    "utf-16": (HEAD + "steps: [" + STEP + "]\n").encode("utf-16"),
    "nul-bytes": b"slug: tiny\x00\x00\n",
}


@pytest.mark.parametrize("case", sorted(BYTE_CASES))
def test_binary_junk_and_other_encodings_cannot_be_read_and_say_so(
    case: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(BYTE_CASES[case])
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "cannot read the file" in message or "YAML syntax error" in message, message


def test_a_missing_file_and_a_folder_are_named() -> None:
    for path in (Path("/nonexistent/protocol.yaml"), Path(__file__).parent):
        with pytest.raises(ProtocolError, match=r"cannot read the file"):
            load_protocol(path)


# --- known bugs: crashes with a traceback instead of a ProtocolError ------------------------


def test_a_list_as_a_key_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match=r"keys\.yaml: YAML syntax error at line 1"):
        parse_protocol("? [a, b]\n: c\n", "keys.yaml")


def test_deep_nesting_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match=r"deep\.yaml: "):
        parse_protocol("[" * 5000 + "]" * 5000, "deep.yaml")


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["empty", "python-tag", "negative-after", "text-missing", "missing-course"]
)
def test_protocol_check_prints_the_problems_and_exits_1(case: str, tmp_path: Path) -> None:
    text, expected = TEXT_CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["protocol", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{path}: " in result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_protocol_check_on_binary_junk_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(BYTE_CASES["png"])
    result = subprocess.run(
        [sys.executable, "-m", "bot", "protocol", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# --- random damage to the bundled protocol ------------------------------------------------

JUNK = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["25:00", "-1h", "0m", "{patient_name}", "", "  ", "ansers", "checkin"])
    | st.lists(st.integers(-3, 3), max_size=3)
    | st.dictionaries(st.sampled_from(["en", "xx", "id", "at"]), st.text(max_size=5), max_size=2)
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in the parsed YAML: keys of mappings, indices of lists."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


BUNDLED_DATA: dict[str, Any] = yaml.safe_load(BUNDLED.read_text(encoding="utf-8"))
LOCATIONS = [path for path in _paths(BUNDLED_DATA) if path]


def _damage(data: Any, path: tuple[Any, ...], how: str, junk: Any) -> Any:
    damaged = copy.deepcopy(data)
    parent = damaged
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "replace":
        parent[last] = junk
    elif how == "delete":
        del parent[last]
    elif isinstance(parent, dict):  # "add": a new key beside this one
        parent[f"{last}_extra" if isinstance(last, str) else "extra"] = junk
    else:
        parent.insert(last, junk)
    return damaged


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(LOCATIONS),
    how=st.sampled_from(["replace", "delete", "add"]),
    junk=JUNK,
)
@example(path=("slug",), how="replace", junk="\x1e")  # a record separator split the line
@example(path=("steps", 8, "id"), how="replace", junk="\r")  # a step named by a bare CR
def test_any_damage_to_a_valid_protocol_is_a_protocol_error_naming_the_file(
    path: tuple[Any, ...], how: str, junk: Any
) -> None:
    """Through YAML text, as an author's file would arrive: loads, or fails with lines that
    each name the file, never with another exception."""
    try:
        text = yaml.safe_dump(_damage(BUNDLED_DATA, path, how, junk), allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        parse_protocol(text, "damaged.yaml")
    except AftercareError as error:
        lines = str(error).splitlines()
        assert lines
        assert all(line.startswith("damaged.yaml: ") for line in lines), lines
