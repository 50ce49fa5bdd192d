"""The clinic's side: join as staff, acknowledge and close escalations, answer patients,
invite colleagues, manage the team, hand out the patients' link.

A staff member joins with ``/staff <code>`` (the code the operator configured or the
first start printed) or through an invite link (``/start i-<code>``, single use, 7 days).
Alerts arrive with Acknowledge and Close buttons; replying to an alert sends the reply
to the patient through the bot. ``/escalations`` lists what is open, most severe first.
Owners ``/invite`` (``/invite owner`` for a co-owner) and remove members from ``/team``;
any member gets the patients' link and QR code with ``/link``. A person on two clinics'
teams acts for the one they joined first. Every button carries its clinic's id and is
checked against the presser's membership of that clinic.
"""

from __future__ import annotations

import contextlib
import re

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InputFile, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.alerts import alert_text, finding_labels
from bot.handlers.common import (
    Context,
    Rows,
    button_data,
    chat_id_of,
    clinic_in_words,
    keyboard,
    say,
    speak,
)
from bot.qr import qr_png
from bot.services import services
from messages.formatting import local_moment
from messages.i18n import translator
from schedules import escalations
from schedules.clinics import invite_link, patient_link
from schedules.models import Clinic, EscalationState, Patient, Staff, StaffRole, SymptomReport
from schedules.team import (
    create_invite,
    join_as_staff,
    list_staff,
    redeem_invite,
    remove_staff,
    staff_by_user,
    staff_member,
)

_ESCALATION = re.compile(r"^esc:(ack|close):(\d+)$")
_REMOVE = re.compile(r"^team:rm:(\d+):(\d+)$")
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
    await say(update, joined_text(clinic, StaffRole.STAFF))


def joined_text(clinic: Clinic, role: StaffRole) -> str:
    if role == StaffRole.OWNER:
        return t(
            "You're now an owner at {clinic}. Urgent reports from patients will be alerted here until someone acknowledges them. /invite brings in colleagues, /team shows who is on the team, /link gives your patients' link and QR code.",
            clinic=clinic.name,
        )
    return t(
        "You're now staff at {clinic}. Urgent reports from patients will be alerted here until someone acknowledges them. Reply to an alert to write to the patient; /escalations lists what is open."
    ).format(clinic=clinic.name)


async def join_by_invite(update: Update, context: Context, code: str) -> None:
    """``/start i-<code>``: redeem a staff invite (once, before it expires)."""
    svc = services(context)
    user_id = chat_id_of(update)
    async with svc.sessions() as session:
        clinic = await redeem_invite(session, code, user_id, svc.clock.now())
        member = await staff_member(session, clinic.id, user_id) if clinic and clinic.id else None
    if clinic is None or member is None:
        await say(
            update,
            t(
                "This invite has expired or was already used. Ask an owner of your clinic for a new one."
            ),
        )
        return
    await say(update, joined_text(clinic, member.role))


async def _staff_or_refuse(update: Update, context: Context) -> tuple[Staff, Clinic] | None:
    """The user's membership and clinic; None (after telling them) for anyone else."""
    async with services(context).sessions() as session:
        member = await staff_by_user(session, chat_id_of(update))
        clinic = await session.get(Clinic, member.clinic_id) if member else None
    if member is None or clinic is None:
        await say(update, speak(update, None)("This command is for clinic staff."))
        return None
    return member, clinic


async def invite(update: Update, context: Context) -> None:
    """``/invite`` (staff) or ``/invite owner``: a single-use link, for owners only."""
    found = await _staff_or_refuse(update, context)
    if found is None:
        return
    member, clinic = found
    wanted = " ".join(context.args or []).strip().lower() or StaffRole.STAFF.value
    if member.role != StaffRole.OWNER:
        await say(update, t("Only the clinic's owners can invite colleagues."))
        return
    if wanted not in (StaffRole.STAFF.value, StaffRole.OWNER.value):
        await say(update, t("Send /invite for a staff member, or /invite owner for a co-owner."))
        return
    svc = services(context)
    async with svc.sessions() as session:
        made = await create_invite(
            session, clinic.id or 0, StaffRole(wanted), member.id, svc.clock.now()
        )
    expires = f"{local_moment(made.expires_at, clinic.timezone, 'en')} ({clinic.timezone})"
    lead = (
        t("Send this link to the new co-owner of {clinic}.", clinic=clinic.name)
        if made.role == StaffRole.OWNER
        else t("Send this link to your new colleague at {clinic}.", clinic=clinic.name)
    )
    await say(
        update,
        lead
        + " "
        + t("It works once and expires {expires}.", expires=expires)
        + "\n\n"
        + invite_link(context.bot.username, made),
    )


async def team(update: Update, context: Context) -> None:
    """``/team``: who is on the clinic's team; owners get a Remove button per member."""
    found = await _staff_or_refuse(update, context)
    if found is None:
        return
    member, clinic = found
    async with services(context).sessions() as session:
        members = await list_staff(session, clinic.id or 0)
    text, rows = team_view(clinic, members, member)
    await say(update, text, rows)


def team_view(clinic: Clinic, members: list[Staff], viewer: Staff) -> tuple[str, Rows]:
    """The team list and, for an owner, Remove buttons (never one for the last owner)."""
    owners = sum(1 for m in members if m.role == StaffRole.OWNER)
    lines = [t("The team at {clinic}:", clinic=clinic.name)]
    rows: list[list[tuple[str, str]]] = []
    for m in members:
        role = t("owner") if m.role == StaffRole.OWNER else t("staff")
        joined = local_moment(m.created_at, clinic.timezone, "en")
        you = " " + t("(you)") if m.id == viewer.id else ""
        lines.append(
            "• " + t("{role} #{id}, joined {joined}", role=role, id=m.id, joined=joined) + you
        )
        removable = m.role != StaffRole.OWNER or owners > 1
        if viewer.role == StaffRole.OWNER and removable:
            rows.append([(t("Remove #{id}", id=m.id), f"team:rm:{clinic.id}:{m.id}")])
    return "\n".join(lines), rows


async def on_remove_button(update: Update, context: Context) -> None:
    """An owner removes a member; the button's clinic must be the presser's own."""
    svc = services(context)
    query = update.callback_query
    match = _REMOVE.match(button_data(update))
    if query is None or match is None:
        return
    clinic_id, staff_id = int(match.group(1)), int(match.group(2))
    async with svc.sessions() as session:
        actor = await staff_member(session, clinic_id, chat_id_of(update))
        removed = actor is not None and await remove_staff(
            session, clinic_id, staff_id, actor.id or 0
        )
        gone = await session.get(Staff, staff_id)
        clinic = await session.get(Clinic, clinic_id)
        members = await list_staff(session, clinic_id)
    if not removed or actor is None or gone is None or clinic is None:
        await query.answer(
            t("Only an owner of this clinic can remove members, and never its last owner."),
            show_alert=True,
        )
        return
    await query.answer(t("Removed"))
    text, rows = team_view(clinic, members, actor)
    left_themselves = gone.id == actor.id
    await query.edit_message_text(
        text, reply_markup=keyboard(rows) if rows and not left_themselves else None
    )
    with contextlib.suppress(TelegramError):
        await context.bot.send_message(
            gone.user_id, t("You're no longer on the team at {clinic}.", clinic=clinic.name)
        )


async def link(update: Update, context: Context) -> None:
    """``/link``: the clinic's patient link, and its QR code as a photo to print."""
    found = await _staff_or_refuse(update, context)
    if found is None:
        return
    _, clinic = found
    url = patient_link(context.bot.username, clinic)
    await say(
        update,
        t("Patients of {clinic} start their aftercare with this link:", clinic=clinic.name)
        + "\n"
        + url
        + "\n\n"
        + t("The QR code below does the same: print it for your front desk."),
    )
    chat = update.effective_chat
    assert chat is not None
    await chat.send_photo(
        InputFile(qr_png(url), filename=f"{clinic.slug}-qr.png"),
        caption=t("Scan to start aftercare with {clinic}", clinic=clinic.name),
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
    name = clinic_in_words(clinic, t)
    return t("The team at {clinic} has seen your message and will be in touch.", clinic=name)


def relayed(patient: Patient, clinic: Clinic | None, text: str) -> str:
    """A staff member's words, introduced in the patient's language."""
    t = translator(patient.locale)
    name = clinic_in_words(clinic, t)
    return t("Message from {clinic}:", clinic=name) + "\n\n" + text[:3500]


def staff_help() -> str:
    return (
        t(
            "You're clinic staff here. Alerts about patients arrive in this chat: press Acknowledge when someone is on it, reply to an alert to write to the patient, and send /escalations for everything open."
        )
        + " "
        + t(
            "/link gives your patients' link and QR code, /team shows the team; owners /invite colleagues."
        )
        + " "
        + t(
            "/broadcast writes to your patients; /patients and /stats give the numbers. Owners send a protocol YAML file to update it, /versions and /rollback N."
        )
        + " "
        + t("/console sends you a link to the clinic console in your browser.")
    )


async def is_staff(update: Update, context: Context) -> bool:
    async with services(context).sessions() as session:
        return await staff_by_user(session, chat_id_of(update)) is not None


HANDLERS = [
    CommandHandler("staff", join),
    CommandHandler("escalations", list_open),
    CommandHandler("invite", invite),
    CommandHandler("team", team),
    CommandHandler("link", link),
    # Full patterns: malformed data falls through to the stale-button answer.
    CallbackQueryHandler(on_escalation_button, pattern=_ESCALATION),
    CallbackQueryHandler(on_remove_button, pattern=_REMOVE),
]
