"""/plan, /stop and /resume: see, stop and restart the reminders."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.handlers.common import (
    Context,
    chat_id_of,
    close_buttons,
    find_patient,
    on_button,
    say,
    speak,
)
from bot.handlers.course import progress_text
from bot.handlers.planning import headline, replan_and_report
from bot.services import services
from messages.formatting import local_moment
from messages.i18n import translator
from messages.render import clinic_context, render_step
from schedules.clinics import clinic_of
from schedules.models import PatientStatus
from schedules.plans import active_treatment
from schedules.store import cancel_open_for_patient, upcoming

PLAN_LENGTH = 10


async def plan_command(update: Update, context: Context) -> None:
    svc = services(context)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        rows = (
            await upcoming(session, patient.id, after=svc.clock.now(), limit=PLAN_LENGTH)
            if patient and patient.id
            else []
        )
        treatment = await active_treatment(session, patient.id) if patient and patient.id else None
        clinic = await clinic_of(session, patient, svc.clinic_slug) if patient else None
    t = speak(update, patient)
    if patient is None or patient.timezone is None:
        await say(update, t("Please send /start first."))
        return
    if patient.status == PatientStatus.STOPPED:
        await say(update, t("Your reminders are stopped. Send /resume to restart them."))
        return
    if not rows:
        await say(update, t("Nothing is planned. Tell me when you were treated: /treated"))
        return
    lines = [t("Coming up (your local time):")]
    course, number = (treatment.course, treatment.course_number) if treatment else (None, 1)
    if treatment is not None:
        course_line = progress_text(t, await svc.catalog.spec(treatment.protocol_id), treatment)
        lines[:0] = [course_line] if course_line else []
    named = clinic_context(clinic.name if clinic else None)
    for row in rows:
        spec = await svc.catalog.spec_for_treatment(row.treatment_id)
        words = render_step(spec, row.step_id, patient.locale, named, course=course, session=number)
        text = headline(words.text, limit=60)
        lines.append(f"• {local_moment(row.due_at, patient.timezone, patient.locale)} — {text}")
    await say(update, "\n".join(lines))


async def stop_command(update: Update, context: Context) -> None:
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    t = speak(update, patient)
    if patient is None:
        await say(update, t("Please send /start first."))
        return
    await say(
        update,
        t("Stop all reminders? You can start them again any time with /resume."),
        [[(t("Yes, stop"), "stop:yes"), (t("No, keep them"), "stop:no")]],
    )


async def stop_answer(update: Update, context: Context) -> None:
    svc = services(context)
    query = update.callback_query
    yes = query is not None and query.data == "stop:yes"
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        if patient is None or patient.id is None:
            await say(update, speak(update, None)("Please send /start first."))
            return
        if yes:
            patient.status = PatientStatus.STOPPED
            session.add(patient)
            await cancel_open_for_patient(session, patient.id, "stopped by patient")
            await session.commit()
    t = translator(patient.locale)
    await close_buttons(update, t("Yes, stop") if yes else t("No, keep them"))
    if yes:
        await say(
            update, t("Stopped. I won't send any more reminders. Send /resume to restart them.")
        )
    else:
        await say(update, t("Good, your reminders keep running."))


async def resume_command(update: Update, context: Context) -> None:
    svc = services(context)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        if patient is not None and patient.status in (
            PatientStatus.STOPPED,
            PatientStatus.PAUSED,
            PatientStatus.UNREACHABLE,
        ):
            patient.status = PatientStatus.ACTIVE
            session.add(patient)
            await session.commit()
    t = speak(update, patient)
    if patient is None or patient.timezone is None:
        await say(update, t("Please send /start first."))
        return
    if patient.status != PatientStatus.ACTIVE:
        await say(update, t("Tell me when you were treated first: /treated"))
        return
    await say(update, t("Welcome back! Your reminders are on again."))
    await replan_and_report(update, context, t)


HANDLERS = [
    CommandHandler("plan", plan_command),
    CommandHandler("stop", stop_command),
    on_button(r"^stop:(yes|no)$", stop_answer),
    CommandHandler("resume", resume_command),
]
