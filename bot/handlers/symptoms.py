"""What a patient tells us about their skin: triage it, answer at once, tell the clinic.

Free text and photo captions go through the triage engine. Emergency and urgent
reports open an escalation that alerts staff until acknowledged; a message the
engine cannot judge gets one clarifying question with buttons, and is never met
with reassurance. Photos always go to the clinic's staff.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
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
    keyboard,
    say,
    storable_text,
)
from bot.services import Services, services
from messages.i18n import Translator, translator
from messages.triage import ClarifyOption, Level, TriageResult, decide_clarification, triage
from messages.triage.engine import CLARIFY_KEYS
from schedules import escalations
from schedules.clinics import clinic_of
from schedules.models import Clinic, Patient, SymptomReport
from schedules.plans import active_treatment
from schedules.profile import local_day
from schedules.team import staff_chats

log = logging.getLogger(__name__)
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


UNKNOWN = Situation(clinic=None, treatment_id=None, day=None, staff_reachable=False)
# Seconds the answer waits for the database (a busy pool, a slow disk) before it goes out
# without the day and clinic: the safe answer now beats the tailored one later.
SITUATION_PATIENCE = 1.0


async def situation_now(svc: Services, patient: Patient) -> Situation:
    """The patient's situation; when the database cannot say, the safe unknown one (no day:
    nothing reassured by the calendar; nobody known to alert: the patient is told to call)."""
    try:
        async with asyncio.timeout(SITUATION_PATIENCE), svc.sessions() as session:
            return await _situation(session, svc, patient)
    except (SQLAlchemyError, TimeoutError) as error:
        log.warning("situation unread (%s): answering without it", type(error).__name__)
        return UNKNOWN


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


def _assess(
    svc: Services, patient: Patient, where: Situation, text: str, *, second_opinion: bool = True
) -> TriageResult:
    emergency = where.clinic.emergency_number if where.clinic else None
    day = NO_TREATMENT_DAY if where.day is None else where.day
    return triage(
        text, day, svc.triage_rules, patient.locale, _profile(patient), emergency,
        second_opinion=second_opinion,
    )  # fmt: skip


async def sounds_urgent(svc: Services, patient: Patient, text: str) -> bool:
    """True if the rules read an emergency or urgent sign in an answer to our question (a
    date, a place): the model knows symptom messages, not "yesterday 5pm"."""
    where = await situation_now(svc, patient)
    return _assess(svc, patient, where, text, second_opinion=False).level >= Level.URGENT


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
) -> int | None:
    """Record a report and wake the alerter; None when the database refused it and it
    waits in the spool (recorded, and staff alerted, once the database takes it)."""
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
    try:
        async with svc.sessions() as session:
            report_id = await escalations.record_report(session, report, svc.clock.now())
    except SQLAlchemyError as error:
        if svc.report_spool is None:
            raise
        log.warning("report not recorded (%s): spooled", type(error).__name__)
        report.clarifying = False  # nobody can answer a checklist we could not show
        svc.report_spool.keep(report)
        svc.wake_dispatcher()
        return None
    if report.next_alert_at is not None:
        svc.wake_dispatcher()
    return report_id


def routing(level: str, where: Situation, t: Translator) -> str:
    """What happens next, true to whether anyone at the clinic can be alerted."""
    if Level(level) < Level.ROUTINE_FOLLOWUP:
        return ""  # expected: the guidance is the answer
    name = clinic_in_words(where.clinic, t)
    phone = where.clinic.phone if where.clinic else None
    if where.staff_reachable and level == Level.EMERGENCY:
        # The instruction is to call emergency services now, not to wait for a call.
        return t("I've also alerted the team at {clinic}.").format(clinic=name)
    if where.staff_reachable and level == Level.URGENT:
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
    """Answer a patient's symptom; for anything else return the engine's short reply unsent.

    The answer leaves before anything is written (and ahead of whatever else waits for this
    chat), so no database trouble can hold up an emergency instruction; a checklist needs
    its report row first, and without one the answer goes without buttons."""
    svc = services(context)
    where = await situation_now(svc, patient)
    result = _assess(svc, patient, where, text)
    t = translator(patient.locale)
    if result.level is Level.NOT_A_SYMPTOM:
        return result.reply
    answer = _join(result.reply, routing(result.level, where, t))
    record = {
        "level": result.level.value,
        "findings": [finding.rule for finding in result.findings],
        "text": text,
        "clarifying": result.clarify is not None,
    }
    if result.clarify is None:
        try:
            await say(update, answer, first=result.level >= Level.URGENT)
        finally:  # a Telegram that fails the answer must not cost the clinic the report
            await open_report(svc, patient, where, **record)  # type: ignore[arg-type]
        return None
    report_id = await open_report(svc, patient, where, **record)  # type: ignore[arg-type]
    if report_id is None:
        await say(update, answer, first=True)
        return None
    await say(
        update,
        _join(answer, result.clarify.question),
        checklist(report_id, result.clarify.options, set(), t),
        first=True,
    )
    return None


def checklist(
    report_id: int, options: Sequence[ClarifyOption], ticked: set[str], t: Translator
) -> list[list[tuple[str, str]]]:
    """One button per red flag, ticked ones marked; "None of these" becomes "Done"."""
    rows = []
    for option in options:
        if option.key == "none":
            label = t("Done") if ticked else option.label
        else:
            label = f"✓ {option.label}" if option.key in ticked else option.label
        rows.append([(label, f"tri:{report_id}:{option.key}")])
    return rows


def _ticks(report: SymptomReport) -> set[str]:
    return {f.removeprefix("answer:") for f in report.findings if f.startswith("answer:")}


async def clarified(update: Update, context: Context) -> None:
    """A box of the red-flag checklist was ticked, or "None of these" / "Done" pressed.

    Each tick decides at once: a rise to urgent or emergency answers and alerts right
    away; an emergency closes the list. The report keeps the words and every tick."""
    svc = services(context)
    match = _CLARIFIED.match(button_data(update))
    found = await _clarifying(svc, update, int(match.group(1))) if match else None
    query = update.callback_query
    if found is None or match is None or query is None or match.group(2) not in CLARIFY_KEYS:
        await _stale(update)
        return
    patient, report, where = found
    key, before = match.group(2), Level(report.level)
    ticked = _ticks(report) | ({key} - {"none"})
    first = _assess(svc, patient, where, report.text)
    result = decide_clarification(first, sorted(ticked) or ["none"], svc.triage_rules)
    done = key == "none" or result.level == Level.EMERGENCY
    async with svc.sessions() as session:
        settled = await escalations.settle_report(
            session, report.id or 0, result.level.value,
            [f.rule for f in result.findings], svc.clock.now(), done=done,
        )  # fmt: skip
    if settled is None:
        await _stale(update, patient.locale)
        return
    await query.answer()
    if settled.next_alert_at is not None:
        svc.wake_dispatcher()
    t = translator(patient.locale)
    options = first.clarify.options if first.clarify else ()
    if done:
        chosen = [o.label for o in options if o.key in ticked] or [
            o.label for o in options if o.key == "none"
        ]
        await close_buttons(update, ", ".join(chosen))
    else:
        await query.edit_message_reply_markup(
            keyboard(checklist(report.id or 0, options, ticked, t))
        )
    if result.level > before or (done and not ticked):
        first_out = result.level >= Level.URGENT
        await say(update, _join(result.reply, routing(result.level, where, t)), first=first_out)


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
    where = await situation_now(svc, patient)
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
