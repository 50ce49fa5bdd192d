"""Outdoor mode: /outside or "I'm going outside", then SPF reapply reminders until
/inside, "I'm inside", local evening or ``MAX_OUTING`` (see ``schedules/outdoors.py``).

Starting an outing sets ``Patient.outdoors_since`` and re-plans: the outing is an event
the planner anchors the protocol's outdoors steps to, so every later re-plan keeps its
reminders. Ending it clears the field and cancels what is still pending of it.
"""

from __future__ import annotations

from babel.lists import format_list
from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.compose import action_label
from bot.handlers.actions import accepted_press
from bot.handlers.common import (
    Context,
    chat_id_of,
    close_buttons,
    find_patient,
    on_button,
    say,
    speak,
)
from bot.services import services
from messages.formatting import local_clock
from messages.i18n import Translator, translator
from schedules.models import Patient, PatientStatus
from schedules.outdoors import (
    outdoor_step_ids,
    outing_end,
    outing_is_on,
    outing_reminders,
    plan_with_outing,
)
from schedules.plans import active_treatment, preferences, replan_patient
from schedules.protocol import Action
from schedules.store import cancel_pending_steps

INSIDE_DATA = "outdoors:inside"  # the "I'm inside" button under the SPF reply itself


def spf_now(t: Translator) -> str:
    return t(
        "Apply a broad-spectrum sunscreen, SPF 30 or higher, now – ideally 30 minutes before you go out. Stay in the shade where you can and wear a hat."
    )


def _why_not(patient: Patient | None, has_treatment: bool, t: Translator) -> str | None:
    """Why outdoor reminders cannot run for this patient, or None if they can."""
    if patient is None or patient.consent_at is None:
        return t("Please send /start first.")
    if patient.timezone is None:
        return t("First, let's set your timezone: /settings")
    if patient.status in (PatientStatus.STOPPED, PatientStatus.PAUSED, PatientStatus.UNREACHABLE):
        return t("Your reminders are stopped. Send /resume to restart them.")
    if patient.status != PatientStatus.ACTIVE or not has_treatment:
        return t("Tell me when you were treated first: /treated")
    return None


async def outside_command(update: Update, context: Context) -> None:
    await start_outing(update, context)


async def outside_button(update: Update, context: Context) -> None:
    found = await accepted_press(update, context)
    if found is None:
        return
    t = translator(found.patient.locale)
    await close_buttons(update, action_label(Action.OUTSIDE, t))
    await start_outing(update, context)


async def start_outing(update: Update, context: Context) -> None:
    """Advise SPF now; start the outing (unless one is on) and say when reminders come."""
    svc = services(context)
    now = svc.clock.now()
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        treatment = await active_treatment(session, patient.id) if patient and patient.id else None
        t = speak(update, patient)
        problem = _why_not(patient, treatment is not None, t)
        if problem is not None or patient is None or treatment is None:
            await say(
                update,
                spf_now(t)
                + "\n\n"
                + t("I can't send you reapply reminders yet.")
                + " "
                + (problem or ""),
            )
            return
        spec = await svc.catalog.spec(treatment.protocol_id)
        timezone = patient.timezone
        assert timezone is not None
        already = outing_is_on(spec, patient.outdoors_since, timezone, now)
        if not already and now <= outing_end(spec, now, timezone):
            patient.outdoors_since = now
            session.add(patient)
            await replan_patient(session, patient, svc.catalog, now=now)
            await session.commit()
        prefs = preferences(patient)
        times = outing_reminders(
            plan_with_outing(
                spec, treatment.treated_at, prefs, outdoors_since=patient.outdoors_since, now=now
            ),
            spec,
            now,
        )
        on = outing_is_on(spec, patient.outdoors_since, timezone, now)
    svc.wake_dispatcher()
    lines = [t("Outdoor mode is already on.")] if already else []
    lines.append(spf_now(t))
    if times:
        clocks = [local_clock(moment, timezone, patient.locale) for moment in times]
        lines.append(
            t(
                "I'll remind you to reapply it at {times}. When you're back inside, tap “I'm inside” or send /inside.",
                times=format_list(clocks, locale=patient.locale),
            )
        )
    else:
        lines.append(
            t(
                "It's too late in the day for reapply reminders, so I won't send any today. If you stay in the sun, reapply every 2 hours."
            )
        )
    rows = [[(action_label(Action.INSIDE, t), INSIDE_DATA)]] if on else None
    await say(update, "\n\n".join(lines), rows)


async def inside_command(update: Update, context: Context) -> None:
    await end_outing(update, context)


async def inside_button(update: Update, context: Context) -> None:
    found = await accepted_press(update, context)
    if found is None:
        return
    await close_buttons(update, action_label(Action.INSIDE, translator(found.patient.locale)))
    await end_outing(update, context)


async def inside_reply_button(update: Update, context: Context) -> None:
    """ "I'm inside" under the SPF reply (answered by ``on_button``)."""
    t = await _translator(update, context)
    await close_buttons(update, action_label(Action.INSIDE, t))
    await end_outing(update, context)


async def _translator(update: Update, context: Context) -> Translator:
    async with services(context).sessions() as session:
        return speak(update, await find_patient(session, chat_id_of(update)))


async def end_outing(update: Update, context: Context) -> None:
    """Clear the outing and cancel its pending reminders; say whether one was on."""
    svc = services(context)
    now = svc.clock.now()
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        t = speak(update, patient)
        if patient is None or patient.id is None:
            await say(update, t("Please send /start first."))
            return
        treatment = await active_treatment(session, patient.id)
        spec = await svc.catalog.spec(treatment.protocol_id) if treatment else None
        was_on = spec is not None and outing_is_on(
            spec, patient.outdoors_since, patient.timezone, now
        )
        if patient.outdoors_since is not None:
            patient.outdoors_since = None
            session.add(patient)
        if spec is not None:
            await cancel_pending_steps(session, patient.id, outdoor_step_ids(spec), "indoors")
        await session.commit()
    if was_on:
        await say(
            update,
            t(
                "Welcome back inside! I've stopped the SPF reminders. Going out again? Send /outside."
            ),
        )
    else:
        await say(
            update,
            t(
                "You're not in outdoor mode, so there are no SPF reminders to stop. Going out? Send /outside."
            ),
        )


HANDLERS = [
    CommandHandler("outside", outside_command),
    CommandHandler("inside", inside_command),
    # Not on_button: a stale press is refused in the press's own answer (an alert).
    CallbackQueryHandler(outside_button, pattern=r"^act:\d+:outside$"),
    CallbackQueryHandler(inside_button, pattern=r"^act:\d+:inside$"),
    on_button(rf"^{INSIDE_DATA}$", inside_reply_button),
]
