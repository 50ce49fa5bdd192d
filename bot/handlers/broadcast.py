"""Staff broadcasts from the chat: compose, choose a segment, preview, confirm, cancel.

``/broadcast`` creates a draft row with no message yet; the staff member's next text or
photo (within an hour) fills it (``composed``, hooked into the fallbacks). Everything
after that travels in button data as the draft's id — ``bc:seg:<id>:<segment>``,
``bc:send:<id>``, ``bc:stop:<id>`` — so the conversation lives in the database and a
restart loses nothing. Send confirms the draft (delivery rows for every recipient) and
posts the live progress message the broadcaster edits; its button cancels the rest.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.broadcasting import cancel_button, describe, grouped, progress_text
from bot.handlers.common import (
    Context,
    Rows,
    button_data,
    chat_id_of,
    close_buttons,
    keyboard,
    say,
)
from bot.sender import CAPTION_LIMIT
from bot.services import Services, services
from messages.i18n import translator
from schedules import broadcasts, segments
from schedules.broadcasts import BroadcastError, Progress
from schedules.models import Broadcast, BroadcastStatus, Clinic, Staff
from schedules.outbound import Outbound
from schedules.segments import SegmentError, parse_segment
from schedules.team import staff_by_user

t = translator("en")  # staff speak the clinic's language; English until clinics choose one
COMPOSE_WITHIN = timedelta(hours=1)  # a draft waits this long for its message
_BUTTON = re.compile(r"^bc:(seg|pick|aud|send|stop|drop):(\d+)(?::(.+))?$")
_DATA_LIMIT = 64  # Telegram's limit for callback data, in bytes


async def start(update: Update, context: Context) -> None:
    """/broadcast: a new draft, waiting for the message (staff only)."""
    svc = services(context)
    async with svc.sessions() as session:
        member = await staff_by_user(session, chat_id_of(update))
        if member is None or member.id is None:
            await say(update, t("This command is for clinic staff."))
            return
        now = svc.clock.now()
        await broadcasts.drop_drafts(session, member.id, now)
        draft = await broadcasts.create_draft(
            session, clinic_id=member.clinic_id, now=now, created_by=member.id
        )
    await say(
        update,
        t(
            "Send me the message for your patients: a text, or a photo with a caption. You'll see a preview before anything is sent."
        ),
        [[(t("Cancel"), f"bc:drop:{draft.id}")]],
    )


async def composed(update: Update, context: Context) -> bool:
    """A staff member's text or photo that fills their waiting draft; False if it is not one.

    Called first by the fallbacks' text and photo handlers (a 2-line hook).
    """
    message = update.effective_message
    if message is None or update.effective_chat is None:
        return False
    svc = services(context)
    async with svc.sessions() as session:
        member = await staff_by_user(session, chat_id_of(update))
        if member is None or member.id is None:
            return False
        since = svc.clock.now() - COMPOSE_WITHIN
        draft = await broadcasts.awaiting_content(session, [member.id], since)
        if draft is None or draft.id is None:
            return False
        photo = message.photo[-1].file_id if message.photo else None
        text = (message.caption if photo else message.text) or ""
        if not text.strip() and photo is None:
            return False  # a sticker or the like: not a broadcast
        try:
            await broadcasts.set_content(session, draft.id, text, photo)
        except BroadcastError:
            limit = CAPTION_LIMIT if photo else broadcasts.TEXT_LIMIT
            await say(
                update,
                t(
                    "That is too long: Telegram allows {limit} characters here. Please send a shorter one."
                ).format(limit=limit),
            )
            return True
    await ask_segment(update, draft.id)
    return True


async def ask_segment(update: Update, broadcast_id: int) -> None:
    b = broadcast_id
    rows: Rows = [
        [(t("All active patients"), f"bc:seg:{b}:all")],
        [(t("Treated in the last 7 days"), f"bc:seg:{b}:recent:7")],
        [(t("Treated in the last 30 days"), f"bc:seg:{b}:recent:30")],
        [
            (t("A protocol…"), f"bc:pick:{b}:protocol"),
            (t("A course stage…"), f"bc:pick:{b}:course"),
        ],
        [(t("Cancel"), f"bc:drop:{b}")],
    ]
    await say(update, t("Who should receive it?"), rows)


async def on_button(update: Update, context: Context) -> None:
    query = update.callback_query
    match = _BUTTON.match(button_data(update))
    if query is None or match is None:
        return
    action, broadcast_id, rest = match.group(1), int(match.group(2)), match.group(3) or ""
    svc = services(context)
    async with svc.sessions() as session:
        found = await _mine(session, chat_id_of(update), broadcast_id)
    if found is None:
        await query.answer(t("Only the clinic's staff can do that."), show_alert=True)
        return
    _member, broadcast = found
    if action == "stop":
        await _stop(update, context, broadcast)
        return
    if broadcast.status != BroadcastStatus.DRAFT:
        await query.answer(t("This broadcast was already sent or cancelled."), show_alert=True)
        return
    await query.answer()
    if action == "drop":
        async with svc.sessions() as session:
            await broadcasts.cancel(session, broadcast_id, svc.clock.now(), drafts_only=True)
        await close_buttons(update, t("Cancelled"))
    elif action == "aud":
        await close_buttons(update, t("Change audience"))
        await ask_segment(update, broadcast_id)
    elif action == "pick":
        await _pick(update, svc, broadcast, rest)
    elif action == "seg":
        await _preview(update, context, broadcast, rest)
    elif action == "send":
        await _send(update, context, broadcast)


async def _mine(
    session: AsyncSession, user_id: int, broadcast_id: int
) -> tuple[Staff, Broadcast] | None:
    """The user's membership and the broadcast, if it is of the user's clinic."""
    member = await staff_by_user(session, user_id)
    broadcast = await session.get(Broadcast, broadcast_id)
    if member is None or broadcast is None or broadcast.clinic_id != member.clinic_id:
        return None
    return member, broadcast


async def _pick(update: Update, svc: Services, broadcast: Broadcast, what: str) -> None:
    """The protocols, or the course stages, the clinic's active patients are on now."""
    b = broadcast.id
    async with svc.sessions() as session:
        slugs, courses = await segments.segment_choices(
            session,
            broadcast.clinic_id,
            include_unassigned=await _is_default(session, broadcast.clinic_id, svc.clinic_slug),
        )
    rows: list[list[tuple[str, str]]] = []
    if what == "protocol":
        rows = [[(slug, f"bc:seg:{b}:protocol:{slug}")] for slug in slugs]
        question = t("Which protocol?")
    else:
        for course in sorted({course for course, _n in courses}):
            rows.append(
                [
                    (
                        t("{course}: any treatment").format(course=course),
                        f"bc:seg:{b}:course:{course}",
                    )
                ]
            )
            rows.extend(
                [(t("{course}: treatment {n}").format(course=c, n=n), f"bc:seg:{b}:course:{c}:{n}")]
                for c, n in courses
                if c == course
            )
        question = t("Which course stage?")
    rows = [row for row in rows if len(row[0][1].encode()) <= _DATA_LIMIT]
    if not rows:
        await say(update, t("No active patient is on one yet. Choose another audience."))
        return
    rows.append([(t("Cancel"), f"bc:drop:{b}")])
    await say(update, question, rows)


async def _preview(update: Update, context: Context, broadcast: Broadcast, text: str) -> None:
    """The message exactly as patients will get it, the count, and Send / Cancel."""
    svc = services(context)
    b = broadcast.id
    assert b is not None
    try:
        segment = parse_segment(text)
    except SegmentError:
        return
    async with svc.sessions() as session:
        await broadcasts.set_segment(session, b, segment)
        count = await segments.count_recipients(
            session,
            broadcast.clinic_id,
            segment,
            svc.clock.now(),
            include_unassigned=await _is_default(session, broadcast.clinic_id, svc.clinic_slug),
        )
    audience = describe(segment, t)
    await close_buttons(update, audience)
    if count == 0:
        await say(
            update,
            t("No patient matches: {audience}.").format(audience=audience),
            [[(t("Change audience"), f"bc:aud:{b}"), (t("Cancel"), f"bc:drop:{b}")]],
        )
        return
    await say(update, t("Preview — exactly what your patients will see:"))
    await send_outbound(context, broadcasts.outbound_for(broadcast, chat_id_of(update)))
    await say(
        update,
        t("Recipients: {count} ({audience}). Send it now?").format(
            count=grouped(count), audience=audience
        ),
        [
            [(t("Send now ({count})").format(count=grouped(count)), f"bc:send:{b}")],
            [(t("Change audience"), f"bc:aud:{b}"), (t("Cancel"), f"bc:drop:{b}")],
        ],
    )


async def _send(update: Update, context: Context, broadcast: Broadcast) -> None:
    """Confirm: the delivery rows, then the live progress message, then wake the sender."""
    svc = services(context)
    b = broadcast.id
    assert b is not None
    chat = update.effective_chat
    assert chat is not None
    async with svc.sessions() as session:
        segment = segments.segment_from_json(broadcast.segment)
        default = await _is_default(session, broadcast.clinic_id, svc.clinic_slug)
        count = await segments.count_recipients(
            session, broadcast.clinic_id, segment, svc.clock.now(), include_unassigned=default
        )
    await close_buttons(update, t("Send"))
    markup_rows = [[(button.label, button.data) for button in cancel_button(b)]]
    posted = await chat.send_message(
        progress_text(b, Progress(pending=count), t), reply_markup=keyboard(markup_rows)
    )
    async with svc.sessions() as session:
        confirmed = await broadcasts.confirm(
            session,
            b,
            svc.clock.now(),
            include_unassigned=default,
            progress=(chat.id, posted.message_id),
        )
    if confirmed is None:
        await posted.edit_text(t("This broadcast was already sent or cancelled."))
        return
    svc.wake_dispatcher()


async def _stop(update: Update, context: Context, broadcast: Broadcast) -> None:
    svc = services(context)
    query = update.callback_query
    assert query is not None
    assert broadcast.id is not None
    async with svc.sessions() as session:
        stopped = await broadcasts.cancel(session, broadcast.id, svc.clock.now())
    if not stopped:
        await query.answer(t("This broadcast has already finished."), show_alert=True)
        return
    await query.answer(t("Broadcast cancelled. Messages already sent stay sent."))
    svc.wake_dispatcher()  # the sender writes the final report


async def send_outbound(context: Context, message: Outbound) -> None:
    """Send a message the way the broadcaster will (photo with caption, or text)."""
    if message.photo is not None:
        await context.bot.send_photo(
            message.chat_id, message.photo, caption=message.text[:CAPTION_LIMIT] or None
        )
    else:
        await context.bot.send_message(message.chat_id, message.text)


async def _is_default(session: AsyncSession, clinic_id: int, default_slug: str) -> bool:
    """Patients without a clinic belong to the operator's default clinic."""
    clinic = await session.get(Clinic, clinic_id)
    return clinic is not None and clinic.slug == default_slug


HANDLERS = [
    CommandHandler("broadcast", start),
    CallbackQueryHandler(on_button, pattern=_BUTTON),  # malformed data: the stale answer
]
