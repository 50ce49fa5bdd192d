"""UI-string catalogs: complete, in step with the code, and really loaded at runtime.

The message ids are extracted afresh from ``bot/`` here (the committed .pot is checked
against them, not trusted). A missing translation is a failing test, not a silent
fallback to English. To fix a failure after changing UI strings, run
``.venv/bin/python scripts/extract_messages.py`` and translate what it reports.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.handlers.fallbacks import help_text
from messages.i18n import BASE_LOCALE, SUPPORTED_LOCALES, pick_locale, translator

REPO_ROOT = Path(__file__).resolve().parents[2]
CODE_DIR = REPO_ROOT / "bot"
LOCALES_DIR = REPO_ROOT / "messages" / "locales"
TEMPLATE = LOCALES_DIR / "aftercare.pot"
TRANSLATED = tuple(locale for locale in SUPPORTED_LOCALES if locale != BASE_LOCALE)
TELEGRAM_TEXT_LIMIT = 4096
BUTTON_LIKE_CHARS = 25  # a message id this short is probably a button label...
BUTTON_MAX_CHARS = 40  # ...and its translation must still fit on a phone's button
RUN_SCRIPT = "run .venv/bin/python scripts/extract_messages.py"
_COMMAND = re.compile(r"(?<![\w/])/[a-z_]+\b")  # /plan, /settings; not Europe/Berlin


@cache
def code_messages() -> dict[str, frozenset[str]]:
    """Every message id passed to t("...") in bot/ (code and console templates), with the
    files using it."""
    found: dict[str, set[str]] = {}
    methods = [("**.py", "python"), ("console/templates/**.html", "jinja2")]
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        CODE_DIR, methods, keywords={"t": None}
    ):
        assert isinstance(message, str), message
        found.setdefault(message, set()).add(f"bot/{Path(filename).as_posix()}")
    return {message: frozenset(files) for message, files in found.items()}


@cache
def catalog(locale: str | None) -> Catalog:
    """The .po of ``locale``, or the .pot for None; a malformed file fails here."""
    path = TEMPLATE if locale is None else LOCALES_DIR / locale / "LC_MESSAGES" / "aftercare.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=locale, abort_invalid=True)


def entries(locale: str | None) -> dict[str, str]:
    """Message id -> translation (empty for the template and untranslated ids)."""
    return {
        str(message.id): str(message.string or "")
        for message in catalog(locale)
        if message.id and isinstance(message.id, str)
    }


def fields(text: str) -> list[str]:
    """The str.format fields of ``text`` as written ("{when}", "{n:>3}"), sorted."""
    return sorted(
        "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        for _literal, name, spec, conversion in string.Formatter().parse(text)
        if name is not None
    )


def sample_values(message_id: str) -> dict[str, str]:
    return {
        name: f"<{name}>"
        for _literal, name, _spec, _conversion in string.Formatter().parse(message_id)
        if name
    }


def test_the_code_has_ui_strings_and_every_supported_locale_a_catalog() -> None:
    assert len(code_messages()) > 20, "extraction found (almost) nothing: is t still the name?"
    assert {"es", "de", "ru"} <= set(TRANSLATED)
    for locale in TRANSLATED:
        assert catalog(locale).locale_identifier == locale


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_string_in_the_code_is_translated(locale: str) -> None:
    translated = catalog(locale)
    missing = []
    for message_id in code_messages():
        entry = translated.get(message_id)
        if entry is None or not str(entry.string or "").strip():
            missing.append(f"untranslated: {message_id!r}")
        elif entry.fuzzy:
            missing.append(f"fuzzy (check it, then drop the flag): {message_id!r}")
    assert not missing, f"{locale}: {len(missing)} problem(s); {RUN_SCRIPT}, then translate:\n" + (
        "\n".join(missing)
    )


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_keep_exactly_the_placeholders(locale: str) -> None:
    wrong = []
    for message_id, text in entries(locale).items():
        if not text:
            continue
        try:
            if fields(text) != fields(message_id):
                wrong.append(f"{message_id!r}: {fields(text)} instead of {fields(message_id)}")
            else:
                text.format(**sample_values(message_id))
        except (ValueError, KeyError, IndexError) as error:
            wrong.append(f"{message_id!r}: {text!r} is not a valid format string ({error})")
    assert not wrong, f"{locale}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_keep_the_command_names(locale: str) -> None:
    wrong = [
        f"{message_id!r} -> {text!r}"
        for message_id, text in entries(locale).items()
        if text and sorted(_COMMAND.findall(text)) != sorted(_COMMAND.findall(message_id))
    ]
    assert not wrong, f"{locale}: commands like /plan must stay as they are:\n" + "\n".join(wrong)


def test_the_template_is_up_to_date_with_the_code() -> None:
    in_code = code_messages()
    in_template = {
        str(message.id): frozenset(filename for filename, _line in message.locations)
        for message in catalog(None)
        if message.id
    }
    stale = {
        "not in the .pot": sorted(set(in_code) - set(in_template)),
        "no longer in the code": sorted(set(in_template) - set(in_code)),
        "used in other files now": sorted(
            m for m in set(in_code) & set(in_template) if in_code[m] != in_template[m]
        ),
    }
    assert not any(stale.values()), f"aftercare.pot is stale; {RUN_SCRIPT}\n" + "\n".join(
        f"{what}: {ids}" for what, ids in stale.items() if ids
    )


@pytest.mark.parametrize("locale", TRANSLATED)
def test_catalogs_hold_the_templates_messages(locale: str) -> None:
    template, translated = set(entries(None)), set(entries(locale))
    assert translated == template, (
        f"{locale}: the .po was not updated from the .pot; {RUN_SCRIPT}\n"
        f"missing: {sorted(template - translated)}\nleft over: {sorted(translated - template)}"
    )


def _literals_outside_t() -> Iterator[tuple[str, int, str]]:
    """Literals given straight to a translator, as in speak(update, None)("...")."""
    for path in sorted(CODE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Call)
                and isinstance(node.func.func, ast.Name)
                and node.func.func.id in {"speak", "translator"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                yield path.relative_to(REPO_ROOT).as_posix(), node.lineno, node.args[0].value


def test_strings_the_extractor_cannot_see_are_also_used_with_t() -> None:
    unseen = [
        f"{path}:{line}: {text!r}"
        for path, line, text in _literals_outside_t()
        if text not in code_messages()
    ]
    assert not unseen, (
        "only t(...) calls are extracted; write `t = speak(...)` and then t(...):\n"
        + "\n".join(unseen)
    )


def test_runtime_loading_gives_spanish() -> None:
    spanish = translator("es")("Which language would you like?")
    assert spanish != "Which language would you like?"
    assert "idioma" in spanish
    assert translator("es").locale == "es"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_runtime_translator_reads_the_same_catalog(locale: str) -> None:
    t = translator(locale)
    for message_id, text in entries(locale).items():
        values = sample_values(message_id)
        expected = text.format(**values) if values else text
        assert t(message_id, **values) == expected


def test_values_are_filled_into_the_translation() -> None:
    text = translator("de")("Quiet hours set to {start}–{end}.", start="22:00", end="07:00")
    assert "22:00–07:00" in text
    assert not text.startswith("Quiet hours")


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [
        ("de-AT", "de"),
        ("de", "de"),
        ("es-MX", "es"),
        ("ES", "es"),
        ("ru-RU", "ru"),
        ("en-GB", "en"),
        ("pt-BR", "en"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_pick_locale(language_code: str | None, expected: str) -> None:
    assert pick_locale(language_code) == expected


@pytest.mark.parametrize("locale", ["fr", "xx", "", "en"])
def test_unknown_locales_and_english_speak_english(locale: str) -> None:
    t = translator(locale)
    assert t.locale == "en"
    assert t("Which language would you like?") == "Which language would you like?"
    assert t("Quiet hours set to {start}–{end}.", start="1", end="2") == "Quiet hours set to 1–2."


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_fit_telegram_and_buttons_stay_short(locale: str) -> None:
    too_long = []
    for message_id, text in entries(locale).items():
        if len(text) > TELEGRAM_TEXT_LIMIT:
            too_long.append(f"{len(text)} chars (Telegram allows {TELEGRAM_TEXT_LIMIT}): {text!r}")
        if len(message_id) <= BUTTON_LIKE_CHARS and len(text) > BUTTON_MAX_CHARS:
            too_long.append(f"{len(text)} chars for a button-like {message_id!r}: {text!r}")
    assert not too_long, f"{locale}:\n" + "\n".join(too_long)
    assert len(help_text(translator(locale))) <= TELEGRAM_TEXT_LIMIT
