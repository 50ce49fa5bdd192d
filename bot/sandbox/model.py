"""The sandbox's records of users, messages and button presses, and the transcript view.

Records are mutable (messages get edited and deleted); :class:`TranscriptEntry` is the frozen
snapshot tests and the demo read, in chat order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.sandbox.markup import Button, inline_buttons

Who = Literal["user", "bot"]
EntryKind = Literal["message", "button_press", "callback_answer"]

BOT_FIRST_NAME = "Aftercare Sandbox"
BOT_USERNAME = "aftercare_sandbox_bot"


def bot_user_json(bot_id: int) -> dict[str, Any]:
    """The bot's User object, as getMe returns it."""
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": BOT_FIRST_NAME,
        "username": BOT_USERNAME,
        "can_join_groups": False,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@dataclass
class UserRecord:
    """A person talking to the bot in a private chat (chat id == user id)."""

    user_id: int
    first_name: str
    language_code: str
    blocked: bool = False

    def as_json(self) -> dict[str, Any]:
        """The Telegram User object."""
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }

    def chat_json(self) -> dict[str, Any]:
        """The Telegram Chat object of this user's private chat with the bot."""
        return {"id": self.user_id, "type": "private", "first_name": self.first_name}


@dataclass
class StoredMessage:
    """A message in a private chat, as it currently stands."""

    chat_id: int
    message_id: int
    sender: Who
    from_user: dict[str, Any]
    date: datetime
    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    edit_date: datetime | None = None
    history: list[str] = field(default_factory=list)
    deleted: bool = False

    def as_json(self, chat: dict[str, Any]) -> dict[str, Any]:
        """The Telegram Message object."""
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.from_user,
            "chat": chat,
            "date": int(self.date.timestamp()),
            "text": self.text,
        }
        if self.entities:
            message["entities"] = self.entities
        if self.reply_markup is not None and "inline_keyboard" in self.reply_markup:
            message["reply_markup"] = self.reply_markup
        if self.edit_date is not None:
            message["edit_date"] = int(self.edit_date.timestamp())
        return message


@dataclass
class ButtonPress:
    """A user pressing an inline button: the callback query sent to the bot."""

    query_id: str
    chat_id: int
    message_id: int
    label: str | None
    data: str
    date: datetime
    answered: bool = False


@dataclass
class CallbackAnswer:
    """The bot's answerCallbackQuery for a press."""

    query_id: str
    chat_id: int
    message_id: int
    data: str
    text: str | None
    show_alert: bool
    date: datetime


LogItem = StoredMessage | ButtonPress | CallbackAnswer


@dataclass(frozen=True)
class TranscriptEntry:
    """One line of a chat as a person would read it, including presses and button answers.

    For messages, ``text`` is the current text (edits applied), ``edit_history`` the earlier
    texts oldest first. For presses, ``text`` is the button label; for answers, the answer text.
    """

    who: Who
    kind: EntryKind
    message_id: int | None
    text: str | None
    date: datetime
    buttons: tuple[tuple[Button, ...], ...] = ()
    edited: bool = False
    edit_history: tuple[str, ...] = ()
    deleted: bool = False
    callback_data: str | None = None
    show_alert: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (ISO date, buttons as lists)."""
        return {
            "who": self.who,
            "kind": self.kind,
            "message_id": self.message_id,
            "text": self.text,
            "date": self.date.isoformat(),
            "buttons": [[list(button) for button in row] for row in self.buttons],
            "edited": self.edited,
            "edit_history": list(self.edit_history),
            "deleted": self.deleted,
            "callback_data": self.callback_data,
            "show_alert": self.show_alert,
        }


def to_entry(item: LogItem) -> TranscriptEntry:
    """Snapshot one log item as a transcript entry."""
    if isinstance(item, StoredMessage):
        return TranscriptEntry(
            who=item.sender,
            kind="message",
            message_id=item.message_id,
            text=item.text,
            date=item.date,
            buttons=inline_buttons(item.reply_markup),
            edited=item.edit_date is not None,
            edit_history=tuple(item.history),
            deleted=item.deleted,
        )
    if isinstance(item, ButtonPress):
        return TranscriptEntry(
            who="user",
            kind="button_press",
            message_id=item.message_id,
            text=item.label,
            date=item.date,
            callback_data=item.data,
        )
    return TranscriptEntry(
        who="bot",
        kind="callback_answer",
        message_id=item.message_id,
        text=item.text,
        date=item.date,
        callback_data=item.data,
        show_alert=item.show_alert,
    )
