"""The sandbox's records of users, messages and button presses, and the transcript view.

Records are mutable (messages get edited and deleted); :class:`TranscriptEntry` is the frozen
snapshot tests and the demo read, in chat order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.sandbox.markup import Button, inline_buttons
from bot.sandbox.media import PhotoSizes

Who = Literal["user", "bot"]
EntryKind = Literal["message", "button_press", "callback_answer"]
Content = Literal["text", "photo", "document"]

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
class ChatRecord(UserRecord):
    """A group, supergroup or channel the bot learnt of from a raw update (``user_id`` is
    the chat's id): the bot can write there; no user acts in it."""

    chat: dict[str, Any] = field(default_factory=dict)

    def chat_json(self) -> dict[str, Any]:
        """The Chat object as the update gave it."""
        return dict(self.chat)


@dataclass(frozen=True)
class Draft:
    """What a new message says, before its chat gives it an id and a date.

    ``text`` is the message text, or a photo's or document's caption ("" for none);
    ``entities`` go with it.
    """

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)
    photo: PhotoSizes | None = None
    document: dict[str, Any] | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to: int | None = None
    forward_origin: dict[str, Any] | None = None


@dataclass
class StoredMessage:
    """A message in a private chat, as it currently stands.

    For a photo or a document, ``text`` and ``entities`` are its caption ("" when it has none).
    """

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
    photo: PhotoSizes | None = None
    reply_to: int | None = None
    forward_origin: dict[str, Any] | None = None
    document: dict[str, Any] | None = None

    @property
    def content(self) -> Content:
        """What the message shows besides its words."""
        if self.document is not None:
            return "document"
        return "text" if self.photo is None else "photo"

    def content_draft(self) -> Draft:
        """A draft of the same content (no keyboard, no reply), as copies and forwards start."""
        return Draft(self.text, list(self.entities), self.photo, self.document)

    def origin(self) -> dict[str, Any]:
        """The MessageOrigin a forward of this message shows (the first origin, if a forward)."""
        if self.forward_origin is not None:
            return self.forward_origin
        return {"type": "user", "sender_user": self.from_user, "date": int(self.date.timestamp())}

    def as_json(
        self, chat: dict[str, Any], reply_to_message: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The Telegram Message object (``reply_to_message`` is the replied-to one's)."""
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.from_user,
            "chat": chat,
            "date": int(self.date.timestamp()),
        }
        if self.forward_origin is not None:
            message["forward_origin"] = self.forward_origin
        if reply_to_message is not None:
            message["reply_to_message"] = reply_to_message
        message.update(self._content_json())
        if self.reply_markup is not None and "inline_keyboard" in self.reply_markup:
            message["reply_markup"] = self.reply_markup
        if self.edit_date is not None:
            message["edit_date"] = int(self.edit_date.timestamp())
        return message

    def _content_json(self) -> dict[str, Any]:
        """``text`` and ``entities``, or ``photo`` / ``document`` with ``caption`` and
        ``caption_entities``."""
        if self.photo is None and self.document is None:
            text: dict[str, Any] = {"text": self.text}
            if self.entities:
                text["entities"] = self.entities
            return text
        media: dict[str, Any] = (
            {"document": dict(self.document)}
            if self.document is not None
            else {"photo": [dict(size) for size in self.photo or ()]}
        )
        if self.text:
            media["caption"] = self.text
        if self.entities:
            media["caption_entities"] = self.entities
        return media


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

    For messages, ``text`` is the current text (edits applied) or a photo's or document's
    caption ("" for none), ``edit_history`` the earlier texts oldest first; ``content`` says
    "text", "photo" or "document", ``caption`` is the caption (None for text messages and
    bare media), ``file_id`` the largest photo size's or the document's, ``file_name`` the
    document's name, ``reply_to`` the id of the message replied to. For presses, ``text`` is
    the button label; for answers, the answer text (those fields are None then).
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
    content: Content | None = None
    caption: str | None = None
    file_id: str | None = None
    reply_to: int | None = None
    file_name: str | None = None

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
            "content": self.content,
            "caption": self.caption,
            "file_id": self.file_id,
            "reply_to": self.reply_to,
            "file_name": self.file_name,
        }


def to_entry(item: LogItem) -> TranscriptEntry:
    """Snapshot one log item as a transcript entry."""
    if isinstance(item, StoredMessage):
        return _message_entry(item)
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


def _message_entry(message: StoredMessage) -> TranscriptEntry:
    """Snapshot one message (text, photo or document) as a transcript entry."""
    is_media = message.content != "text"
    document = message.document or {}
    return TranscriptEntry(
        who=message.sender,
        kind="message",
        message_id=message.message_id,
        text=message.text,
        date=message.date,
        buttons=inline_buttons(message.reply_markup),
        edited=message.edit_date is not None,
        edit_history=tuple(message.history),
        deleted=message.deleted,
        content=message.content,
        caption=(message.text or None) if is_media else None,
        file_id=message.photo[-1]["file_id"] if message.photo else document.get("file_id"),
        reply_to=message.reply_to,
        file_name=document.get("file_name"),
    )
