"""The "Done" and "Remind me in 1 hour" buttons under action reminders.

Done edits the message to show ✓ and removes its buttons; nothing else is stored (the
chat is the record, and nothing in the plan depends on it). Snooze adds a new outbox row
(``snoozed_from`` = the pressed reminder) due an hour later, or when quiet hours end, so
it is as lossless as a planned reminder and outlives a restart. A press on a reminder we
don't know, or another patient's, or an action its step does not offer, gets the stale
button alert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.compose import action_label
from bot.handlers.common import Context, button_data, chat_id_of, close_buttons, find_patient, say
from bot.handlers.fallbacks import stale_button
from bot.services import services
from messages.formatting import local_clock, local_moment
from messages.i18n import translator
from schedules import store
from schedules.errors import ProtocolError
from schedules.models import Patient, PatientStatus, Reminder
from schedules.plans import preferences
from schedules.protocol import Action, ProtocolSpec
from schedules.snooze import snooze_due, snooze_occurrence

_PRESS = re.compile(r"^act:(\d{1,18}):([a-z]+)$")


@dataclass(frozen=True)
class Pressed:
    """An action button that belongs to this patient's reminder and its step."""

    patient: Patient
    reminder: Reminder
    spec: ProtocolSpec
    action: Action


async def pressed(update: Update, context: Context, session: AsyncSession) -> Pressed | None:
    """The reminder whose action button was pressed, or None if the button is stale."""
    match = _PRESS.match(button_data(update))
    if match is None or match[2] not in {a.value for a in Action}:
        return None
    action = Action(match[2])
    patient = await find_patient(session, chat_id_of(update))
    reminder = await session.get(Reminder, int(match[1]))
    if patient is None or reminder is None or reminder.patient_id != patient.id:
        return None
    try:
        spec = await services(context).catalog.spec_for_treatment(reminder.treatment_id, session)
        step = spec.step(reminder.step_id)
    except (LookupError, ProtocolError):
        return None
    if action not in step.actions:
        return None
    return Pressed(patient, reminder, spec, action)


async def answer_press(update: Update) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer()


async def accepted_press(update: Update, context: Context) -> Pressed | None:
    """The pressed reminder, with the press answered; a stale press gets the alert and None."""
    async with services(context).sessions() as session:
        found = await pressed(update, context, session)
    if found is None:
        await stale_button(update, context)
        return None
    await answer_press(update)
    return found


async def done(update: Update, context: Context) -> None:
    found = await accepted_press(update, context)
    if found is None:
        return
    if _has_buttons(update):  # a second tap on a message already closed changes nothing
        await close_buttons(update, action_label(Action.DONE, translator(found.patient.locale)))


async def snooze(update: Update, context: Context) -> None:
    svc = services(context)
    now = svc.clock.now()
    async with svc.sessions() as session:
        found = await pressed(update, context, session)
        if found is None:
            await stale_button(update, context)
            return
        patient, original = found.patient, found.reminder
        t = translator(patient.locale)
        if patient.status != PatientStatus.ACTIVE or patient.timezone is None:
            await answer_press(update)
            await say(update, t("Your reminders are stopped. Send /resume to restart them."))
            return
        assert original.id is not None
        copy, created = await store.add_snoozed(
            session,
            original,
            occurrence=snooze_occurrence(original.id),
            due_at=snooze_due(now, preferences(patient)),
        )
        await session.commit()
    note = t("I'll remind you again at {time}.", time=_when(copy.due_at, now, patient))
    if not created:  # a double tap: the first one made the copy and closed the buttons
        query = update.callback_query
        if query is not None:
            await query.answer(note)
        return
    await answer_press(update)
    svc.wake_dispatcher()
    await close_buttons(update, note)


def _has_buttons(update: Update) -> bool:
    query = update.callback_query
    message = query.message if query else None
    markup = getattr(message, "reply_markup", None)
    return bool(markup and markup.inline_keyboard)


def _when(due: datetime, now: datetime, patient: Patient) -> str:
    """The snooze's time: "10:15" later today, "Sat 28 Mar, 08:00" on another local day."""
    timezone = patient.timezone or "UTC"
    tz = ZoneInfo(timezone)
    if due.astimezone(tz).date() == now.astimezone(tz).date():
        return local_clock(due, timezone, patient.locale)
    return local_moment(due, timezone, patient.locale)


# Not on_button: a stale press is refused in the press's own answer (an alert).
HANDLERS = [
    CallbackQueryHandler(done, pattern=r"^act:\d+:done$"),
    CallbackQueryHandler(snooze, pattern=r"^act:\d+:snooze$"),
]
