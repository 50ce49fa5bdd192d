"""Small pieces every handler uses: find the patient, speak their language, reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop, CallbackContext, CallbackQueryHandler, ExtBot

from bot.services import services
from messages.i18n import Translator, pick_locale, translator
from messages.render import clinic_context
from schedules.clock import Clock
from schedules.models import Clinic, Patient
from schedules.outbound import Lane

Rows = Sequence[Sequence[tuple[str, str]]]
Context = CallbackContext[Any, Any, Any, Any]


def keyboard(rows: Rows) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


async def find_patient(session: AsyncSession, chat_id: int) -> Patient | None:
    return (await session.exec(select(Patient).where(Patient.chat_id == chat_id))).first()


def speak(update: Update, patient: Patient | None) -> Translator:
    """The patient's chosen language, else the one their Telegram app uses."""
    if patient is not None:
        return translator(patient.locale)
    user = update.effective_user
    return translator(pick_locale(user.language_code if user else None))


def clinic_in_words(clinic: Clinic | None, t: Translator) -> str:
    """The clinic's name, or "your clinic" in the reader's language while it has none."""
    if clinic is None or not clinic_context(clinic.name):
        return t("your clinic")
    return clinic.name


def local_now(patient: Patient, clock: Clock) -> datetime:
    return clock.now().astimezone(ZoneInfo(patient.timezone or "UTC"))


async def say(update: Update, text: str, rows: Rows | None = None, *, first: bool = False) -> None:
    """Answer in the chat the update came from (after a button press too); ``first`` puts
    the answer ahead of every routine message still waiting for this chat or this bot."""
    markup = keyboard(rows) if rows else None
    chat = update.effective_chat
    if chat is None:
        return
    bot = update.get_bot()
    if isinstance(bot, ExtBot):  # always, under an Application: its rate limiter reads this
        lane = Lane.SAFETY if first else Lane.REPLY
        await bot.send_message(chat.id, text, reply_markup=markup, rate_limit_args=lane)
    else:
        await chat.send_message(text, reply_markup=markup)


async def close_buttons(update: Update, note: str | None = None) -> None:
    """Remove the keyboard from the message whose button was pressed, noting the choice.

    A second tap on the same button (a double tap) finds it closed already: Telegram
    answers "message is not modified". That press was handled by the first, so the handler
    stops here (``ApplicationHandlerStop``) instead of doing its work twice."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    message = query.message
    text = getattr(message, "text", None)
    try:
        if note and text:
            await query.edit_message_text(f"{text}\n\n✓ {note}"[:4096])
        else:
            await query.edit_message_reply_markup(None)
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise
        raise ApplicationHandlerStop from None


def storable_text(text: str) -> str:
    """A patient's text as the database can keep it: Telegram passes on what UTF-8 and
    Postgres refuse (NUL, lone surrogates); those become U+FFFD, the rest stays."""
    return "".join("\ufffd" if _unstorable(c) else c for c in text)


def _unstorable(character: str) -> bool:
    return character == "\x00" or "\ud800" <= character <= "\udfff"


Handler = Callable[[Update, CallbackContext[Any, Any, Any, Any]], Awaitable[None]]


def on_button(pattern: str, handler: Handler) -> CallbackQueryHandler[Any, None]:
    """A button handler that first answers the press (exactly once), so the app stops spinning."""

    async def answered(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer()
        await handler(update, context)

    return CallbackQueryHandler(answered, pattern=pattern)


def chat_id_of(update: Update) -> int:
    chat = update.effective_chat
    assert chat is not None
    return chat.id


async def remember(
    context: CallbackContext[Any, Any, Any, Any], update: Update, awaiting: str | None
) -> None:
    """Note what the next typed message from this chat answers (kept in the DB, not memory)."""
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        if patient is not None and patient.awaiting != awaiting:
            patient.awaiting = awaiting
            session.add(patient)
            await session.commit()


def button_data(update: Update) -> str:
    """The pressed button's callback data ("" for anything else)."""
    query = update.callback_query
    return (query.data or "") if query else ""


async def patient_translator(update: Update, context: Context) -> Translator:
    """The language of the patient in this chat (their Telegram's, if we don't know them)."""
    async with services(context).sessions() as session:
        return speak(update, await find_patient(session, chat_id_of(update)))
