"""What a patient tells us about their skin: triage it, answer at once, tell the clinic.

Free text and photo captions go through the triage engine. Emergency and urgent
reports open an escalation that alerts staff until acknowledged; a message the
engine cannot judge gets one clarifying question with buttons, and is never met
with reassurance. Photos always go to the clinic's staff.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.handlers.common import (
    Context,
    button_data,
    chat_id_of,
    clinic_in_words,
    close_buttons,
    find_patient,
    say,
    storable_text,
)
from bot.services import Services, services
from messages.i18n import Translator, translator
from messages.triage import Level, TriageResult, decide_clarification, triage
from messages.triage.engine import CLARIFY_KEYS
from schedules import escalations
from schedules.clinics import clinic_of
from schedules.models import Clinic, Patient, SymptomReport
from schedules.plans import active_treatment
from schedules.profile import local_day
from schedules.team import staff_chats

# With no treatment date, no day counts as "expected": nothing is reassured by the calendar.
NO_TREATMENT_DAY = 30
_CLARIFIED = re.compile(r"^tri:(\d+):([a-z]+)$")


@dataclass(frozen=True)
class Situation:
    """Where a report belongs: the clinic, the treatment, the day since it, and whether
    anyone at the clinic can be alerted."""

    clinic: Clinic | None
    treatment_id: int | None
    day: int | None
    staff_reachable: bool


async def _situation(session: AsyncSession, svc: Services, patient: Patient) -> Situation:
    assert patient.id is not None
    clinic = await clinic_of(session, patient, svc.clinic_slug)
    treatment = await active_treatment(session, patient.id)
    day = None
    if treatment is not None:
        day = max(0, local_day(treatment.treated_at, svc.clock.now(), patient.timezone or "UTC"))
    reachable = bool(await staff_chats(session, clinic.id if clinic else None))
    return Situation(clinic, treatment.id if treatment else None, day, reachable)


def _profile(patient: Patient) -> dict[str, object]:
    return {
        "pigmentation_watch": patient.pigmentation_watch,
        **dict.fromkeys(patient.contraindications, True),
    }


def _assess(svc: Services, patient: Patient, where: Situation, text: str) -> TriageResult:
    emergency = where.clinic.emergency_number if where.clinic else None
    day = NO_TREATMENT_DAY if where.day is None else where.day
    return triage(text, day, svc.triage_rules, patient.locale, _profile(patient), emergency)


async def sounds_urgent(svc: Services, patient: Patient, text: str) -> bool:
    """True if the text reports an emergency or urgent sign, whatever question we asked."""
    async with svc.sessions() as session:
        where = await _situation(session, svc, patient)
    return _assess(svc, patient, where, text).level >= Level.URGENT


async def open_report(
    svc: Services,
    patient: Patient,
    where: Situation,
    *,
    level: str,
    findings: Sequence[str],
    text: str = "",
    source: str = "text",
    photo: str | None = None,
    clarifying: bool = False,
) -> int:
    """Record a report; wake the alerter when staff must hear of it now."""
    assert patient.id is not None
    report = SymptomReport(
        patient_id=patient.id,
        clinic_id=where.clinic.id if where.clinic else None,
        treatment_id=where.treatment_id,
        day=where.day,
        source=source,
        text=storable_text(text),
        photo_file_id=photo,
        level=level,
        findings=list(findings),
        clarifying=clarifying,
        created_at=svc.clock.now(),
    )
    async with svc.sessions() as session:
        report_id = await escalations.record_report(session, report, svc.clock.now())
    if report.next_alert_at is not None:
        svc.wake_dispatcher()
    return report_id


def routing(level: str, where: Situation, t: Translator) -> str:
    """What happens next, true to whether anyone at the clinic can be alerted."""
    if Level(level) < Level.ROUTINE_FOLLOWUP:
        return ""  # expected: the guidance is the answer
    name = clinic_in_words(where.clinic, t)
    phone = where.clinic.phone if where.clinic else None
    if where.staff_reachable and level in (Level.EMERGENCY, Level.URGENT):
        told = t("I've alerted the team at {clinic}; they will contact you today.").format(
            clinic=name
        )
        return told + (
            " " + t("If you don't hear from them, call {phone}.").format(phone=phone)
            if phone
            else ""
        )
    if where.staff_reachable:
        return ""
    if phone:
        return t("Please call {clinic} on {phone} about this.").format(clinic=name, phone=phone)
    return t("Please contact {clinic} directly about this.").format(clinic=name)


def _join(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part)


async def triage_text(update: Update, context: Context, patient: Patient, text: str) -> str | None:
    """Answer a patient's symptom; for anything else return the engine's short reply unsent."""
    svc = services(context)
    async with svc.sessions() as session:
        where = await _situation(session, svc, patient)
    result = _assess(svc, patient, where, text)
    t = translator(patient.locale)
    if result.level is Level.NOT_A_SYMPTOM:
        return result.reply
    report_id = await open_report(
        svc, patient, where,
        level=result.level.value,
        findings=[finding.rule for finding in result.findings],
        text=text,
        clarifying=result.clarify is not None,
    )  # fmt: skip
    if result.clarify is None:
        await say(update, _join(result.reply, routing(result.level, where, t)))
        return None
    options = [(option.label, f"tri:{report_id}:{option.key}") for option in result.clarify.options]
    await say(
        update,
        _join(result.reply, routing(result.level, where, t), result.clarify.question),
        [[option] for option in options],
    )
    return None


async def clarified(update: Update, context: Context) -> None:
    """The patient answered the clarifying question: settle the level and say so."""
    svc = services(context)
    match = _CLARIFIED.match(button_data(update))
    found = await _clarifying(svc, update, int(match.group(1))) if match else None
    query = update.callback_query
    if found is None or match is None or query is None or match.group(2) not in CLARIFY_KEYS:
        await _stale(update)
        return
    patient, report, where = found
    key = match.group(2)
    first = _assess(svc, patient, where, report.text)
    result = decide_clarification(first, [key])
    async with svc.sessions() as session:
        settled = await escalations.settle_report(
            session, report.id or 0, result.level.value,
            [f.rule for f in result.findings], svc.clock.now(),
        )  # fmt: skip
    if settled is None:
        await _stale(update, patient.locale)
        return
    await query.answer()
    if settled.next_alert_at is not None:
        svc.wake_dispatcher()
    options = first.clarify.options if first.clarify else ()
    await close_buttons(update, next((o.label for o in options if o.key == key), key))
    t = translator(patient.locale)
    await say(update, _join(result.reply, routing(result.level, where, t)))


async def _clarifying(
    svc: Services, update: Update, report_id: int
) -> tuple[Patient, SymptomReport, Situation] | None:
    """This chat's patient, their report, and its situation; None if it is not theirs."""
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        report = await session.get(SymptomReport, report_id)
        if patient is None or report is None or report.patient_id != patient.id:
            return None
        return patient, report, await _situation(session, svc, patient)


async def _stale(update: Update, locale: str = "en") -> None:
    query = update.callback_query
    t = translator(locale)
    if query is not None:
        await query.answer(t("This question was already answered."), show_alert=True)


async def photo_from_patient(update: Update, context: Context, patient: Patient) -> None:
    """A photo goes to the clinic's staff with its context; the caption is triaged."""
    svc = services(context)
    message = update.effective_message
    if message is None or not message.photo:
        return
    caption = (message.caption or "")[:1000]
    async with svc.sessions() as session:
        where = await _situation(session, svc, patient)
    result = _assess(svc, patient, where, caption) if caption else None
    level = max(Level.ROUTINE_FOLLOWUP, result.level) if result else Level.ROUTINE_FOLLOWUP
    await open_report(
        svc, patient, where,
        level=level.value,
        findings=[f.rule for f in result.findings] if result else [],
        text=caption, source="photo", photo=message.photo[-1].file_id,
    )  # fmt: skip
    t = translator(patient.locale)
    name = clinic_in_words(where.clinic, t)
    seen = (
        t("I've sent your photo to the team at {clinic}. A member of staff will look at it.")
        if where.staff_reachable
        else t("Nobody at {clinic} can see photos here yet, so please send it to them directly.")
    ).format(clinic=name)
    urgent = result is not None and result.level >= Level.URGENT
    await say(
        update,
        _join(
            result.reply if urgent and result else "",
            seen,
            routing(level, where, t) if urgent else "",
        ),
    )


HANDLERS = [CallbackQueryHandler(clarified, pattern=r"^tri:")]
