"""Re-plan a patient's reminders after a change and tell them what comes next."""

from __future__ import annotations

from telegram import Update

from bot.handlers.common import Context, chat_id_of, find_patient, say
from bot.services import services
from messages.formatting import local_moment
from messages.i18n import Translator
from messages.render import clinic_context, render_step
from schedules.clinics import clinic_of
from schedules.plans import active_treatment, replan_patient
from schedules.store import upcoming


async def replan_and_report(update: Update, context: Context, t: Translator) -> None:
    """Bring the outbox in line with the patient's facts, then show the next reminder."""
    svc = services(context)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        if patient is None or patient.id is None:
            return
        await replan_patient(session, patient, svc.catalog, now=svc.clock.now())
        await session.commit()
        upcoming_rows = await upcoming(session, patient.id, after=svc.clock.now(), limit=1)
        treatment = await active_treatment(session, patient.id)
        clinic = await clinic_of(session, patient, svc.clinic_slug)
    svc.wake_dispatcher()
    if not upcoming_rows or patient.timezone is None:
        await say(update, t("Your plan is up to date. There is nothing left to send."))
        return
    first = upcoming_rows[0]
    spec = await svc.catalog.spec_for_treatment(first.treatment_id)
    course, number = (treatment.course, treatment.course_number) if treatment else (None, 1)
    named = clinic_context(clinic.name if clinic else None)
    words = render_step(spec, first.step_id, patient.locale, named, course=course, session=number)
    preview = headline(words.text)
    when = local_moment(first.due_at, patient.timezone, patient.locale)
    await say(
        update,
        t("Your plan is up to date. Next: {when} — {preview}", when=when, preview=preview)
        + "\n"
        + t("/plan shows everything that's coming."),
    )


def headline(text: str, limit: int = 70) -> str:
    """The first line of a reminder, short enough for a list."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"
