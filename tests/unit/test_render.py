"""Rendering protocol steps into the words and buttons a patient sees."""

from __future__ import annotations

import pytest

from messages.render import NEUTRAL_VALUES, UNNAMED_CLINIC, Choice, clinic_context, render_step
from schedules.errors import ProtocolError
from schedules.protocol import PLACEHOLDERS, ProtocolSpec, bundled_protocol, parse_protocol

LOCALES = ("en", "es", "de", "ru")
SPEC = bundled_protocol()


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step_id", [step.id for step in SPEC.steps])
def test_every_step_renders_in_every_locale(step_id: str, locale: str) -> None:
    rendered = render_step(SPEC, step_id, locale)
    assert rendered.text.strip()
    assert len(rendered.text) <= 4096
    assert "{" not in rendered.text
    assert "}" not in rendered.text
    if locale != "en":
        assert rendered.text != render_step(SPEC, step_id, "en").text


def test_a_checkin_comes_with_labelled_choices() -> None:
    rendered = render_step(SPEC, "redness-checkin", "de")
    assert rendered.choices == (
        Choice("gone", "Ja, sie ist weg"),
        Choice("not-yet", "Noch nicht"),
        Choice("not-sure", "Weiß nicht genau"),
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_checkin_labels_exist_in_every_locale(locale: str) -> None:
    choices = render_step(SPEC, "redness-checkin", locale).choices
    assert [choice.answer_id for choice in choices] == ["gone", "not-yet", "not-sure"]
    assert all(choice.label.strip() for choice in choices)


def test_advice_has_no_choices() -> None:
    assert render_step(SPEC, "makeup-allowed", "en").choices == ()


@pytest.mark.parametrize("locale", ["fr", "", "xx-YY", "zh_Hans"])
def test_an_unknown_locale_falls_back_to_the_base_locale(locale: str) -> None:
    fallback = render_step(SPEC, "redness-checkin", locale)
    assert fallback == render_step(SPEC, "redness-checkin", SPEC.base_locale)


def test_a_regional_locale_uses_its_language() -> None:
    assert render_step(SPEC, "peeling", "de-AT") == render_step(SPEC, "peeling", "de")
    assert render_step(SPEC, "peeling", "ES") == render_step(SPEC, "peeling", "es")


def test_placeholders_are_filled_from_the_context() -> None:
    context = {"clinic_name": "Skin Studio Mitte"}
    text = render_step(SPEC, "contraindications", "es", context).text
    assert "avisa a Skin Studio Mitte para" in text


def test_a_missing_value_becomes_a_neutral_phrase() -> None:
    assert "please tell your clinic so" in render_step(SPEC, "contraindications", "en").text
    blank = render_step(SPEC, "contraindications", "de", {"clinic_name": "  "}).text
    assert "informieren Sie bitte Ihre Klinik," in blank


def test_the_next_session_window_comes_from_the_default_course() -> None:
    assert "usually 4–6 weeks after" in render_step(SPEC, "book-next-session-start", "en").text
    assert "через 4–6 нед." in render_step(SPEC, "book-next-session-start", "ru").text


def test_the_next_session_window_follows_the_treatment_s_course() -> None:
    collagen = render_step(SPEC, "book-next-session-start", "en", course="collagen").text
    assert "usually 2–4 weeks after" in collagen
    end = render_step(SPEC, "book-next-session-end", "de", course="scars", session=2).text
    assert "(4–6 Wochen nach" in end


def test_the_course_size_fills_the_course_complete_message() -> None:
    collagen = render_step(SPEC, "course-complete", "en", course="collagen", session=3).text
    assert "course of 3 treatments" in collagen
    assert "курс из 6 процедур" in render_step(SPEC, "course-complete", "ru", course="scars").text


def test_an_unknown_course_renders_as_the_default_one() -> None:
    assert render_step(SPEC, "book-next-session-start", "es", course="gone") == render_step(
        SPEC, "book-next-session-start", "es"
    )


def test_an_open_ended_course_has_no_size_so_it_reads_neutrally() -> None:
    text = render_step(SPEC, "course-complete", "en", course="standard").text
    assert "course of several treatments" in text


def test_context_values_cannot_inject_placeholders_or_flood_the_message() -> None:
    context = {"clinic_name": "{next_session_weeks}\n" + "x" * 5000, "unknown": "ignored"}
    text = render_step(SPEC, "contraindications", "en", context).text
    assert "{next_session_weeks}" in text  # the value is inserted as is, not rendered again
    assert "\n" not in text
    assert len(text) < 1000


def test_every_placeholder_has_a_neutral_phrase_in_every_locale() -> None:
    assert set(NEUTRAL_VALUES) == PLACEHOLDERS
    for phrases in NEUTRAL_VALUES.values():
        assert set(LOCALES) <= set(phrases)


def test_text_is_clipped_to_the_telegram_limit() -> None:
    long = "word " * 600
    spec = parse_protocol(
        {
            "slug": "long",
            "version": 1,
            "name": {"en": "Long"},
            "locales": ["en"],
            "steps": [
                {
                    "id": "s",
                    "kind": "advice",
                    "after": "1h",
                    "text": {"en": long + "{clinic_name} " * 35},
                }
            ],
        },
        "long.yaml",
    )
    text = render_step(spec, "s", "en", {"clinic_name": "c" * 200}).text
    assert len(text) == 4096
    assert text.endswith("…")


def test_an_unknown_step_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="nope"):
        render_step(SPEC, "nope", "en")


def test_rendering_a_stored_spec_gives_the_same_words() -> None:
    stored = ProtocolSpec.model_validate(SPEC.model_dump(mode="json"))
    for step in SPEC.steps:
        assert render_step(stored, step.id, "ru") == render_step(SPEC, step.id, "ru")


@pytest.mark.parametrize("name", [None, "", UNNAMED_CLINIC, " Your Clinic "])
def test_a_clinic_without_a_name_leaves_the_neutral_words_in_the_patients_language(
    name: str | None,
) -> None:
    spec = bundled_protocol()
    spanish = render_step(spec, "contraindications", "es", clinic_context(name)).text
    assert "tu clínica" in spanish
    assert "your clinic" not in spanish.casefold()


def test_a_named_clinic_is_named_wherever_a_text_has_the_placeholder() -> None:
    spec = bundled_protocol()
    words = spec.step("contraindications").text
    with_name = [locale for locale, text in words.items() if "{clinic_name}" in text]
    assert {"en", "es", "de"} <= set(with_name)  # Russian words it without the name
    for locale in with_name:
        text = render_step(spec, "contraindications", locale, clinic_context("Glow Clinic")).text
        assert "Glow Clinic" in text, locale
