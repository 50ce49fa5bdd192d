"""The clinic's side: join as staff, acknowledge and close escalations, answer patients.

A staff member joins with ``/staff <code>`` (the code the operator configured or the
first start printed). Alerts arrive with Acknowledge and Close buttons; replying to
an alert sends the reply to the patient through the bot. ``/escalations`` lists what
is open, most severe first.
"""

from __future__ import annotations

import re

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.alerts import alert_text, finding_labels
from bot.handlers.common import Context, button_data, chat_id_of, keyboard, say
from bot.services import services
from messages.i18n import translator
from schedules import escalations
from schedules.clinics import join_as_staff, staff_by_user
from schedules.models import Clinic, EscalationState, Patient, Staff, SymptomReport

_ESCALATION = re.compile(r"^esc:(ack|close):(\d+)$")
t = translator("en")  # staff speak the clinic's language; English until clinics choose one


async def join(update: Update, context: Context) -> None:
    svc = services(context)
    code = " ".join(context.args or [])
    if not code:
        await say(update, t("Send /staff followed by the code your clinic gave you."))
        return
    async with svc.sessions() as session:
        clinic = await join_as_staff(session, code, chat_id_of(update), svc.clock.now())
    if clinic is None:
        await say(update, t("That staff code is not valid. Ask the person who runs the bot."))
        return
    await say(
        update,
        t(
            "You're now staff at {clinic}. Urgent reports from patients will be alerted here until someone acknowledges them. Reply to an alert to write to the patient; /escalations lists what is open."
        ).format(clinic=clinic.name),
    )


async def list_open(update: Update, context: Context) -> None:
    svc = services(context)
    async with svc.sessions() as session:
        member = await staff_by_user(session, chat_id_of(update))
        if member is None:
            await say(update, t("This command is for clinic staff."))
            return
        queue = await escalations.review_queue(session, member.clinic_id, limit=10)
        clinic = await session.get(Clinic, member.clinic_id)
    if not queue:
        await say(update, t("Nothing open. Well done."))
        return
    await say(
        update, t("{count} reports need the clinic, most severe first:").format(count=len(queue))
    )
    for report in queue:
        await _show(update, context, report, clinic)


async def _show(
    update: Update, context: Context, report: SymptomReport, clinic: Clinic | None
) -> None:
    """One report as a replyable message with its buttons, remembered like an alert."""
    svc = services(context)
    labels = await finding_labels(report, svc.triage_rules, svc.catalog)
    text = alert_text(report, labels, clinic, t)
    if report.state == EscalationState.ACKNOWLEDGED:
        text += "\n✓ " + t("Acknowledged")
    rows = [[(t("Close"), f"esc:close:{report.id}")]]
    if report.state == EscalationState.OPEN:
        rows[0].insert(0, (t("Acknowledge"), f"esc:ack:{report.id}"))
    chat = update.effective_chat
    assert chat is not None
    assert report.id is not None
    sent = await chat.send_message(text[:4096], reply_markup=keyboard(rows))
    async with svc.sessions() as session:
        await escalations.remember_alerts(
            session, report.id, [(chat.id, sent.message_id)], svc.clock.now()
        )


async def on_escalation_button(update: Update, context: Context) -> None:
    svc = services(context)
    query = update.callback_query
    match = _ESCALATION.match(button_data(update))
    if query is None or match is None:
        return
    action, report_id = match.group(1), int(match.group(2))
    now = svc.clock.now()
    async with svc.sessions() as session:
        report = await session.get(SymptomReport, report_id)
        member = await _member_for(session, chat_id_of(update), report)
        if member is None or report is None:
            await query.answer(t("Only the clinic's staff can do that."), show_alert=True)
            return
        assert member.id is not None
        if action == "ack":
            done = await escalations.acknowledge(session, report_id, member.id, now)
        else:
            done = await escalations.close(session, report_id, member.id, now)
        patient = await session.get(Patient, report.patient_id)
        clinic = await session.get(Clinic, report.clinic_id) if report.clinic_id else None
    if not done:
        await query.answer(t("Already dealt with by a colleague."), show_alert=True)
        return
    word = t("Acknowledged") if action == "ack" else t("Closed")
    await query.answer(word)
    await _note_on_alert(update, f"✓ {word} (staff #{member.id})")
    if action == "ack" and patient is not None and report.level in escalations.REALERT_EVERY:
        await context.bot.send_message(patient.chat_id, seen_note(patient, clinic))


async def _member_for(
    session: AsyncSession, user_id: int, report: SymptomReport | None
) -> Staff | None:
    """The user's staff membership, if it is of the report's clinic."""
    member = await staff_by_user(session, user_id)
    if member is None or report is None or member.clinic_id != report.clinic_id:
        return None
    return member


async def _note_on_alert(update: Update, note: str) -> None:
    """Keep the alert's text, drop its buttons, and say who dealt with it."""
    query = update.callback_query
    message = query.message if query else None
    if query is None or message is None:
        return
    text = getattr(message, "text", None) or getattr(message, "caption", None) or ""
    if getattr(message, "photo", None):
        await query.edit_message_caption(f"{text}\n\n{note}"[:1024])
    else:
        await query.edit_message_text(f"{text}\n\n{note}"[:4096])


async def reply_to_patient(update: Update, context: Context) -> bool:
    """A staff member's reply to an alert goes to the patient; False if it is not one."""
    svc = services(context)
    message = update.effective_message
    replied = message.reply_to_message if message else None
    if message is None or replied is None or not message.text:
        return False
    async with svc.sessions() as session:
        report = await escalations.report_for_alert(session, chat_id_of(update), replied.message_id)
        member = await _member_for(session, chat_id_of(update), report)
        if report is None or member is None or member.id is None:
            return False
        await escalations.acknowledge(session, report.id or 0, member.id, svc.clock.now())
        patient = await session.get(Patient, report.patient_id)
        clinic = await session.get(Clinic, report.clinic_id) if report.clinic_id else None
    if patient is None:
        return False
    await context.bot.send_message(patient.chat_id, relayed(patient, clinic, message.text))
    await say(update, t("Sent to patient #{patient}.").format(patient=patient.id))
    return True


def seen_note(patient: Patient, clinic: Clinic | None) -> str:
    """Tells the patient a person at the clinic has their report (in their language)."""
    t = translator(patient.locale)
    name = clinic.name if clinic else t("your clinic")
    return t("The team at {clinic} has seen your message and will be in touch.", clinic=name)


def relayed(patient: Patient, clinic: Clinic | None, text: str) -> str:
    """A staff member's words, introduced in the patient's language."""
    t = translator(patient.locale)
    name = clinic.name if clinic else t("your clinic")
    return t("Message from {clinic}:", clinic=name) + "\n\n" + text[:3500]


def staff_help() -> str:
    return t(
        "You're clinic staff here. Alerts about patients arrive in this chat: press Acknowledge when someone is on it, reply to an alert to write to the patient, and send /escalations for everything open."
    )


async def is_staff(update: Update, context: Context) -> bool:
    async with services(context).sessions() as session:
        return await staff_by_user(session, chat_id_of(update)) is not None


HANDLERS = [
    CommandHandler("staff", join),
    CommandHandler("escalations", list_open),
    CallbackQueryHandler(on_escalation_button, pattern=r"^esc:"),
]
