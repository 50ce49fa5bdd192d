"""Wording a due reminder: protocol text, check-in answers, and action buttons whose
labels come from the UI catalogs in the patient's language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.compose import action_data, compose
from schedules.dispatcher import DueMessage
from schedules.models import Patient
from schedules.protocol import Action, ProtocolSpec, bundled_protocol

BIGGEST_ID = 2**63 - 1  # a BIGINT primary key at its limit


@pytest.fixture(scope="module")
def spec() -> ProtocolSpec:
    return bundled_protocol()


def due(spec: ProtocolSpec, step_id: str, locale: str = "en") -> DueMessage:
    patient = Patient(chat_id=42, locale=locale, created_at=datetime(2026, 3, 27, tzinfo=UTC))
    return DueMessage(
        reminder_id=77,
        step_id=step_id,
        occurrence=100,
        due_at=datetime(2026, 3, 27, 8, 30, tzinfo=UTC),
        patient=patient,
        spec=spec,
    )


def layout(step_id: str, spec: ProtocolSpec, locale: str = "en") -> list[list[tuple[str, str]]]:
    message = compose(due(spec, step_id, locale))
    return [[(b.label, b.data) for b in row] for row in message.buttons]


def test_the_morning_sun_advice_offers_outdoor_mode_and_a_snooze(spec: ProtocolSpec) -> None:
    assert layout("sun-protection", spec) == [
        [("I'm going outside", "act:77:outside")],
        [("Remind me in 1 hour", "act:77:snooze")],
    ]


def test_action_reminders_carry_done_and_snooze(spec: ProtocolSpec) -> None:
    for step_id in ("moisturise-morning", "moisturise-evening-dry"):
        assert layout(step_id, spec) == [
            [("Done", "act:77:done")],
            [("Remind me in 1 hour", "act:77:snooze")],
        ]
    assert layout("spf-reapply-outdoors", spec) == [
        [("Done", "act:77:done")],
        [("I'm inside", "act:77:inside")],
    ]


def test_advice_without_actions_has_no_buttons(spec: ProtocolSpec) -> None:
    assert layout("makeup-allowed", spec) == []


@pytest.mark.parametrize(
    ("locale", "outside"),
    [("es", "Voy a salir"), ("de", "Ich gehe nach draußen"), ("ru", "Выхожу на улицу")],
)
def test_labels_are_in_the_patients_language(spec: ProtocolSpec, locale: str, outside: str) -> None:
    rows = layout("sun-protection", spec, locale)
    assert rows[0][0][0] == outside
    assert rows[1][0][0] != "Remind me in 1 hour"


@pytest.mark.parametrize("action", list(Action))
def test_callback_data_fits_telegrams_64_bytes(action: Action) -> None:
    assert len(action_data(BIGGEST_ID, action).encode()) <= 64


def test_a_long_list_of_answers_gets_a_row_each_and_a_short_one_shares_a_row(
    spec: ProtocolSpec,
) -> None:
    red_flags = layout("red-flag-check-day-2", spec)
    assert len(red_flags) == 6
    assert all(len(row) == 1 for row in red_flags)
    assert red_flags[-1] == [("None of these", "ans:77:none")]
    assert len(layout("redness-checkin", spec)[0]) > 1
