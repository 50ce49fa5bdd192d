"""Answers to check-in questions ("Is the redness gone?", "Any of these warning signs?")
and what they change.

A red_flag answer is a warning sign the patient reported: it opens an urgent report that
alerts the clinic's staff until someone acknowledges it, exactly like an urgent symptom
written in the chat.
"""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.handlers.common import Context, button_data, chat_id_of, close_buttons, find_patient, say
from bot.handlers.fallbacks import stale_button
from bot.handlers.symptoms import Situation, _situation, open_report, routing
from bot.services import services
from messages.i18n import translator
from messages.triage import Level
from schedules.models import Patient, Reminder, ReminderStatus, SymptomReport, Treatment
from schedules.profile import redness_needs_review
from schedules.protocol import Answer, AnswerEffect, ProtocolSpec, Step, WhileState

_ANSWER = re.compile(r"^ans:(\d+):([a-z0-9-]+)$")


async def answer(update: Update, context: Context) -> None:
    svc = services(context)
    query = update.callback_query
    match = _ANSWER.match(button_data(update))
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        reminder = await session.get(Reminder, int(match.group(1))) if match else None
        if (
            patient is None
            or reminder is None
            or reminder.patient_id != patient.id
            or match is None
        ):
            await stale_button(update, context)
            return
        spec = await svc.catalog.spec_for_treatment(reminder.treatment_id, session)
        step = spec.step(reminder.step_id)
        chosen = next((a for a in step.answers or () if a.id == match.group(2)), None)
        if chosen is None:
            await stale_button(update, context)
            return
        where: Situation | None = None
        if chosen.effect is AnswerEffect.RED_FLAG:
            if await _check_reported(session, reminder):
                await stale_button(update, context)  # a second press of the same check
                return
            where = await _situation(session, svc, patient)
        if chosen.effect is AnswerEffect.REDNESS_GONE and patient.redness_gone_at is None:
            patient.redness_gone_at = svc.clock.now()
            session.add(patient)
            await _cancel_while_redness(session, patient, spec)
        review = await _redness_lasting(session, patient, reminder, step, chosen, svc.clock.now())
        first_review = review and patient.redness_review_at is None
        if first_review:
            patient.redness_review_at = svc.clock.now()
            session.add(patient)
            where = await _situation(session, svc, patient)
        if reminder.answered_at is None:  # for the clinic's /stats
            reminder.answered_at = svc.clock.now()
            session.add(reminder)
        await session.commit()
    t = translator(patient.locale)
    label = chosen.text.get(patient.locale) or chosen.text[spec.base_locale]
    if where is not None:
        # A warning sign is urgent; redness past a week waits in the clinic's review queue.
        red_flag = chosen.effect is AnswerEffect.RED_FLAG
        await open_report(
            svc, patient, where,
            level=(Level.URGENT if red_flag else Level.ROUTINE_FOLLOWUP).value,
            findings=[check_finding(step, chosen) if red_flag else "redness"],
            text=label,
            source="check",
        )  # fmt: skip
    if query is not None:
        await query.answer()
    await close_buttons(update, label)
    if where is not None and chosen.effect is AnswerEffect.RED_FLAG:
        seen = t("Thank you for telling us. This needs to be seen by the clinic today.")
        await say(update, "\n\n".join(p for p in (seen, routing(Level.URGENT, where, t)) if p))
    elif _is_red_flag_check(step):
        await say(
            update,
            t("Good. If any of these appear, write to me straight away or contact your clinic."),
        )
    elif chosen.effect is AnswerEffect.REDNESS_GONE:
        await say(
            update,
            t(
                "Great news! I'll stop the heat and sauna reminders. Keep protecting your skin from the sun."
            ),
        )
    elif review:
        await say(
            update,
            t(
                "Thanks for telling me. Redness that lasts a week or more should be checked, so I've noted it for your clinic to review. If it hurts, spreads or gets worse, contact your clinic right away."
            ),
        )
    else:
        await say(
            update,
            t(
                "Thanks. I'll ask again tomorrow. If the redness gets worse, spreads or hurts, contact your clinic."
            ),
        )


def check_finding(step: Step, chosen: Answer) -> str:
    """The finding a red-flag answer records; staff alerts word it with the answer's text."""
    return f"check:{step.id}:{chosen.id}"


def _is_red_flag_check(step: Step) -> bool:
    return any(a.effect is AnswerEffect.RED_FLAG for a in step.answers or ())


async def _check_reported(session: AsyncSession, reminder: Reminder) -> bool:
    """Whether this check (its step, in this treatment) already opened a report."""
    prefix = f"check:{reminder.step_id}:"
    reports = await session.exec(
        select(SymptomReport).where(
            SymptomReport.patient_id == reminder.patient_id,
            SymptomReport.treatment_id == reminder.treatment_id,
            SymptomReport.source == "check",
        )
    )
    return any(f.startswith(prefix) for report in reports.all() for f in report.findings)


async def _redness_lasting(
    session: AsyncSession,
    patient: Patient,
    reminder: Reminder,
    step: Step,
    chosen: Answer,
    now: datetime,
) -> bool:
    """Redness not gone (or not sure) on local day 7 or later: for the clinic to review."""
    is_redness_question = any(a.effect is AnswerEffect.REDNESS_GONE for a in step.answers or ())
    if not is_redness_question or chosen.effect is AnswerEffect.REDNESS_GONE:
        return False
    treatment = await session.get(Treatment, reminder.treatment_id)
    if treatment is None or patient.timezone is None:
        return False
    return redness_needs_review(treatment.treated_at, now, patient.timezone)


async def _cancel_while_redness(
    session: AsyncSession, patient: Patient, spec: ProtocolSpec
) -> None:
    """Pending steps that only apply while the skin is red are no longer needed."""
    steps = [s.id for s in spec.steps if s.condition and s.condition.while_ is WhileState.REDNESS]
    if not steps or patient.id is None:
        return
    await session.exec(
        sa.update(Reminder)
        .where(
            col(Reminder.patient_id) == patient.id,
            col(Reminder.status) == ReminderStatus.PENDING,
            col(Reminder.step_id).in_(steps),
        )
        .values(status=ReminderStatus.CANCELLED, last_error="redness gone")
    )


# Not on_button: a stale answer is refused in the press's own alert.
HANDLERS = [CallbackQueryHandler(answer, pattern=r"^ans:")]
