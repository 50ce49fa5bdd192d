"""Health talk belongs in private chats: updates from groups and channels go no further.

A bot added to a group would otherwise enrol the group as a patient and post reminders
and triage answers where everyone reads them. This gate runs before every other handler
(group -2) and answers such updates with silence; a press on an inline message (no chat
at all) is answered, so the presser's app stops spinning.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, TypeHandler

from bot.handlers.common import Context

GROUP = -2  # before every other group, including the protocol editor's -1


async def private_only(update: Update, context: Context) -> None:
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE:
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    raise ApplicationHandlerStop


HANDLER = TypeHandler(Update, private_only)
