"""The sandbox's spec handling and text formatting, checked directly."""

from __future__ import annotations

import html
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.sandbox.errors import ApiError
from bot.sandbox.formatting import parse_html, parse_markdown, render_text, utf16_len
from bot.sandbox.limits import Limits, RateLimiter
from bot.sandbox.methods import BotMethods
from bot.sandbox.spec import FieldSpec, coerce_params, coerce_value, load_spec
from bot.sandbox.state import World

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "extract_botapi_spec.py"


def load_extractor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("extract_botapi_spec", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_spec_is_bot_api_10_1_with_every_method() -> None:
    spec = load_spec()
    assert spec.version == "Bot API 10.1"
    assert len(spec.methods) == 180
    send = spec.lookup("SendMessage")
    assert send is not None
    assert send.name == "sendMessage"
    required = {f.name for f in send.fields if f.required}
    assert required == {"chat_id", "text"}


def test_every_implemented_method_is_in_the_spec() -> None:
    spec = load_spec()
    world = World(lambda: datetime.now(UTC))
    names = {*BotMethods(world, RateLimiter(Limits())).table(), "getupdates"}
    assert len(names) > 15
    assert [name for name in names if spec.lookup(name) is None] == []


def test_generated_spec_matches_the_extractor() -> None:
    extractor = load_extractor()
    if not extractor.DEFAULT_SOURCE.exists():
        pytest.skip("the reference spec is not beside this checkout")
    full = json.loads(extractor.DEFAULT_SOURCE.read_text(encoding="utf-8"))
    expected = extractor.render(extractor.compact_spec(full))
    bundled = (REPO / "bot" / "sandbox" / "botapi_spec.json").read_text(encoding="utf-8")
    assert bundled == expected
    assert (REPO / "bot" / "sandbox" / "SPEC-LICENSE").read_text().startswith("MIT License")


@given(st.integers(min_value=-(2**62), max_value=2**62))
def test_integer_parameters_accept_form_strings(number: int) -> None:
    field = FieldSpec("chat_id", ("Integer", "String"), True)
    assert coerce_value(field, str(number)) == number
    assert coerce_value(field, number) == number


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("False", False), ("1", True), ("0", False)]
)
def test_boolean_parameters(raw: str, expected: bool) -> None:
    assert coerce_value(FieldSpec("x", ("Boolean",), False), raw) is expected


def test_coercion_keeps_usernames_and_drops_unknown_parameters() -> None:
    send = load_spec().lookup("sendMessage")
    assert send is not None
    params = coerce_params(send, {"chat_id": "@someone", "text": "hi", "bogus": "1"})
    assert params == {"chat_id": "@someone", "text": "hi"}
    with pytest.raises(ApiError) as caught:
        coerce_params(send, {"chat_id": 1, "text": "hi", "entities": "{}"})
    assert caught.value.code == 400


@given(st.text(min_size=1, max_size=200))
def test_escaped_html_round_trips_to_the_same_text(text: str) -> None:
    plain, entities = parse_html(html.escape(text, quote=False))
    assert plain == text
    assert entities == []


def test_entity_offsets_are_utf16() -> None:
    plain, entities = parse_html("😀 <i>ok</i>")
    assert plain == "😀 ok"
    assert entities == [{"type": "italic", "offset": 3, "length": 2}]
    assert utf16_len("😀") == 2


def test_markdown_v2_entities_and_escapes() -> None:
    plain, entities = parse_markdown(r"*Day 1* \- rest \(really\)", v2=True)
    assert plain == "Day 1 - rest (really)"
    assert entities == [{"type": "bold", "offset": 0, "length": 5}]
    plain, entities = parse_markdown("[site](https://example.org)", v2=True)
    assert (plain, entities[0]["url"]) == ("site", "https://example.org")


@pytest.mark.parametrize(
    ("text", "mode", "fragment"),
    [
        ("<b>x", "HTML", "Can't find end tag"),
        ("<blink>x</blink>", "HTML", "Unsupported start tag"),
        ("1 < 2", "HTML", "Unsupported start tag"),
        ("*x", "MarkdownV2", "Can't find end of Bold entity"),
        ("a.b", "MarkdownV2", "Character '.' is reserved"),
        ("`x", "Markdown", "Can't find end of Code entity"),
    ],
)
def test_malformed_markup_is_refused(text: str, mode: str, fragment: str) -> None:
    with pytest.raises(ApiError) as caught:
        render_text(text, mode, None)
    assert caught.value.code == 400
    assert caught.value.description.startswith("Bad Request: can't parse entities: ")
    assert fragment in caught.value.description


def test_length_counts_utf16_units_after_parsing() -> None:
    assert render_text("<b>" + "a" * 4096 + "</b>", "HTML", None)[0] == "a" * 4096
    with pytest.raises(ApiError, match="too long"):
        render_text("😀" * 2049, None, None)
