"""Word a due reminder for Telegram: the protocol text, answer buttons for check-ins, and
the step's action buttons ("Done", "Remind me in 1 hour", "I'm going outside", "I'm inside").

Action labels come from the UI catalogs, not from protocol data: the protocol only says
which actions a step offers.
"""

from __future__ import annotations

from messages.i18n import Translator, translator
from messages.render import clinic_context, render_step
from schedules.dispatcher import DueMessage
from schedules.outbound import Button, Outbound
from schedules.protocol import Action


def answer_data(reminder_id: int, answer_id: str) -> str:
    """Callback data of a check-in answer; well under Telegram's 64 bytes."""
    return f"ans:{reminder_id}:{answer_id}"


def action_data(reminder_id: int, action: Action) -> str:
    """Callback data of an action button, e.g. "act:1234:snooze"; well under 64 bytes."""
    return f"act:{reminder_id}:{action.value}"


def action_label(action: Action, t: Translator) -> str:
    labels = {
        Action.DONE: t("Done"),
        Action.SNOOZE: t("Remind me in 1 hour"),
        Action.OUTSIDE: t("I'm going outside"),
        Action.INSIDE: t("I'm inside"),
    }
    return labels[action]


ANSWERS_IN_ONE_ROW = 3  # "Yes / Not yet / Not sure" fit on a phone's row; six do not


def compose(due: DueMessage) -> Outbound:
    rendered = render_step(
        due.spec,
        due.step_id,
        due.patient.locale,
        clinic_context(due.clinic_name),
        course=due.course,
        session=due.course_number,
    )
    rows: list[tuple[Button, ...]] = []
    answers = tuple(
        Button(label=choice.label, data=answer_data(due.reminder_id, choice.answer_id))
        for choice in rendered.choices
    )
    if len(answers) <= ANSWERS_IN_ONE_ROW:
        rows.extend([answers] if answers else [])
    else:  # a longer list of answers, one a row, so that each label stays readable
        rows.extend((answer,) for answer in answers)
    t = translator(due.patient.locale)
    # One action a row, so that longer translated labels stay whole on a phone.
    for action in due.spec.step(due.step_id).actions:
        rows.append(
            (Button(label=action_label(action, t), data=action_data(due.reminder_id, action)),)
        )
    return Outbound(chat_id=due.patient.chat_id, text=rendered.text, buttons=tuple(rows))
