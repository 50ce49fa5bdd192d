"""Word a due reminder for Telegram: the protocol text, and answer buttons for check-ins."""

from __future__ import annotations

from messages.render import render_step
from schedules.dispatcher import DueMessage
from schedules.outbound import Button, Outbound


def answer_data(reminder_id: int, answer_id: str) -> str:
    """Callback data of a check-in answer; well under Telegram's 64 bytes."""
    return f"ans:{reminder_id}:{answer_id}"


def compose(due: DueMessage) -> Outbound:
    rendered = render_step(due.spec, due.step_id, due.patient.locale)
    buttons = tuple(
        Button(label=choice.label, data=answer_data(due.reminder_id, choice.answer_id))
        for choice in rendered.choices
    )
    return Outbound(
        chat_id=due.patient.chat_id,
        text=rendered.text,
        buttons=(buttons,) if buttons else (),
    )
