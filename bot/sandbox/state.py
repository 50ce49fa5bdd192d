"""The sandbox's world: users, private chats, messages, pending updates and change signals.

Everything here is synchronous and runs on the event loop's thread; every mutation calls
:meth:`World.changed`, which wakes long polls and ``wait_for`` helpers at once (no polling).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.sandbox.errors import BLOCKED, CHAT_NOT_FOUND, QUERY_INVALID, ApiError, bad_request
from bot.sandbox.files import FileStore, Upload
from bot.sandbox.markup import find_button
from bot.sandbox.media import DocumentBook, PhotoBook
from bot.sandbox.model import (
    ButtonPress,
    CallbackAnswer,
    ChatRecord,
    Draft,
    LogItem,
    StoredMessage,
    TranscriptEntry,
    UserRecord,
    Who,
    bot_user_json,
    to_entry,
)

DEFAULT_BOT_ID = 1
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,64})?(?![A-Za-z0-9_@])")


class ControlError(ValueError):
    """A control-surface request that cannot be carried out (e.g. no such button)."""


class ChangeSignal:
    """Wakes every waiter on each state change; safe to fire from synchronous code."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake everyone waiting now; later waiters wait for the next change."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the next change (returns quietly when they pass)."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, seconds))


class World:
    """All chats the sandbox knows, and the queue of updates not yet confirmed by the bot."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self.signal = ChangeSignal()
        self.bot_user: dict[str, Any] = bot_user_json(DEFAULT_BOT_ID)
        self.users: dict[int, UserRecord] = {}
        self.messages: dict[int, dict[int, StoredMessage]] = {}
        self.log: dict[int, list[LogItem]] = {}
        self.updates: list[dict[str, Any]] = []
        self.presses: dict[str, ButtonPress] = {}
        self.files = FileStore()
        self.photos = PhotoBook(self.files)
        self.documents = DocumentBook(self.files)
        self.webhook: dict[str, Any] = {}
        self.allowed_updates: list[str] | None = None
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(4_000_000_000_000_000_001)
        self._message_ids: dict[int, itertools.count[int]] = {}

    def changed(self) -> None:
        """Announce a state change to long polls and waiters."""
        self.signal.notify()

    def webhook_error(self, message: str) -> None:
        """Remember a failed webhook delivery for getWebhookInfo (last_error_date/message)."""
        if self.webhook.get("url"):
            self.webhook["last_error_date"] = int(self.now().timestamp())
            self.webhook["last_error_message"] = message

    # -- users acting -------------------------------------------------------------------------

    def user(self, user_id: int, first_name: str = "Pat", language_code: str = "en") -> UserRecord:
        """The user's record, created on first contact."""
        record = self.users.get(user_id)
        if record is None:
            record = self._add_chat(UserRecord(user_id, first_name, language_code))
        return record

    def _add_chat(self, record: UserRecord) -> UserRecord:
        """Start an empty chat for ``record``."""
        self.users[record.user_id] = record
        self.messages[record.user_id] = {}
        self.log[record.user_id] = []
        self._message_ids[record.user_id] = itertools.count(1)
        return record

    def _learn_chats(self, payload: Any) -> None:
        """Make the chats a raw update names known, so the bot's answers to them land:
        a private chat as its user's, any other as a :class:`ChatRecord`."""
        if not isinstance(payload, dict):
            return
        nested = payload.get("message")
        chats = [payload.get("chat"), nested.get("chat") if isinstance(nested, dict) else None]
        for chat in chats:
            if not isinstance(chat, dict) or type(chat.get("id")) is not int:
                continue
            chat_id = chat["id"]
            if chat_id in self.users:
                continue
            if chat.get("type") == "private" and chat_id > 0:
                self.user(chat_id, str(chat.get("first_name") or "Pat"))
            else:
                self._add_chat(ChatRecord(chat_id, str(chat.get("title") or ""), "en", chat=chat))

    def user_sends_text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Pat",
        language_code: str = "en",
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a text message from the user; a leading /command gets a bot_command entity."""
        if not text:
            raise ControlError("a user cannot send an empty message")
        reply_to = self._user_reply(user_id, reply_to_message_id)
        record = self._writer(user_id, first_name, language_code)
        return self._user_message(record, Draft(text, command_entities(text), reply_to=reply_to))

    def user_sends_photo(
        self,
        user_id: int,
        *,
        caption: str | None = None,
        first_name: str = "Pat",
        language_code: str = "en",
        reply_to_message_id: int | None = None,
        image: bytes | None = None,
    ) -> dict[str, Any]:
        """Queue a newly issued photo from the user, with an optional caption. With
        ``image`` (PNG, JPEG...) the bot can download it; without, it has no bytes."""
        reply_to = self._user_reply(user_id, reply_to_message_id)
        record = self._writer(user_id, first_name, language_code)
        text = caption or ""
        sizes = (
            self.photos.upload(Upload("photo", "photo", None, image))
            if image is not None
            else self.photos.issue()
        )
        draft = Draft(text, command_entities(text), sizes, reply_to=reply_to)
        return self._user_message(record, draft)

    def user_sends_document(
        self,
        user_id: int,
        upload: Upload,
        *,
        caption: str | None = None,
        first_name: str = "Pat",
        language_code: str = "en",
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a document (its bytes kept for getFile and download) from the user."""
        if not upload.content:
            raise ControlError("a document cannot be empty")
        reply_to = self._user_reply(user_id, reply_to_message_id)
        record = self._writer(user_id, first_name, language_code)
        text = caption or ""
        document = self.documents.issue(upload)
        draft = Draft(text, command_entities(text), document=document, reply_to=reply_to)
        return self._user_message(record, draft)

    def user_presses_button(
        self,
        user_id: int,
        *,
        label: str | None = None,
        callback_data: str | None = None,
        message_id: int | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Queue a callback query for a button on ``message_id`` or the newest bot message."""
        if label is None and callback_data is None:
            raise ControlError("press a button by label or by callback_data")
        record = self.users.get(user_id)
        if record is None:
            raise ControlError(f"user {user_id} has never talked to the bot")
        target = self._button_message(user_id, label, callback_data, message_id)
        if target is None:
            if not (force and message_id is not None and callback_data is not None):
                raise ControlError(f"no button matches in chat {user_id}")
            return self._press(record, message_id, None, callback_data, None)
        message, (button_label, data) = target
        assert data is not None
        return self._press(record, message.message_id, button_label, data, message)

    def set_blocked(self, user_id: int, *, blocked: bool) -> dict[str, Any] | None:
        """Block or unblock the bot; queues the my_chat_member update Telegram would send."""
        record = self.user(user_id)
        if record.blocked == blocked:
            return None
        record.blocked = blocked
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        payload = {
            "chat": record.chat_json(),
            "from": record.as_json(),
            "date": int(self.now().timestamp()),
            "old_chat_member": _member(old, self.bot_user),
            "new_chat_member": _member(new, self.bot_user),
        }
        return self.queue_update("my_chat_member", payload)

    def _writer(self, user_id: int, first_name: str, language_code: str) -> UserRecord:
        """The user about to write, with their current name; writing unblocks the bot."""
        if user_id <= 0:
            raise ControlError("user ids of private chats are positive")
        record = self.user(user_id, first_name, language_code)
        record.first_name, record.language_code = first_name, language_code
        if record.blocked:
            self.set_blocked(user_id, blocked=False)
        return record

    def _user_reply(self, chat_id: int, message_id: int | None) -> int | None:
        """``message_id`` if the user can reply to it (None stays None); ControlError if not."""
        if message_id is not None and self.find_message(chat_id, message_id) is None:
            raise ControlError(f"no message {message_id} in chat {chat_id} to reply to")
        return message_id

    def _user_message(self, record: UserRecord, draft: Draft) -> dict[str, Any]:
        """Store the user's message and queue its message update."""
        message = self._store(record.user_id, "user", record.as_json(), draft)
        return self.queue_update("message", self.message_json(message))

    def _button_message(
        self, chat_id: int, label: str | None, data: str | None, message_id: int | None
    ) -> tuple[StoredMessage, tuple[str, str | None]] | None:
        """The bot message holding a matching button, newest first unless one is named."""
        chat = self.messages.get(chat_id, {})
        if message_id is not None:
            candidates = [chat[message_id]] if message_id in chat else []
        else:
            candidates = sorted(chat.values(), key=lambda m: m.message_id, reverse=True)
        for message in candidates:
            if message.sender != "bot" or message.deleted:
                continue
            button = find_button(message.reply_markup, label=label, callback_data=data)
            if button is not None:
                return message, button
        return None

    def _press(
        self,
        record: UserRecord,
        message_id: int,
        label: str | None,
        data: str,
        message: StoredMessage | None,
    ) -> dict[str, Any]:
        """Record the press and queue its callback_query update."""
        press = ButtonPress(
            str(next(self._query_ids)), record.user_id, message_id, label, data, self.now()
        )
        self.presses[press.query_id] = press
        self.log[record.user_id].append(press)
        if message is not None and not message.deleted:
            message_json = self.message_json(message)
        else:  # Telegram's InaccessibleMessage: date 0
            message_json = {"message_id": message_id, "chat": record.chat_json(), "date": 0}
        payload = {
            "id": press.query_id,
            "from": record.as_json(),
            "message": message_json,
            "chat_instance": str(8_000_000_000_000_000_000 + record.user_id),
            "data": data,
        }
        return self.queue_update("callback_query", payload)

    # -- the bot acting -----------------------------------------------------------------------

    def chat_for_bot(self, chat_id: Any) -> UserRecord:
        """The private chat the bot addresses; 400 if unknown, 403 if the user blocked it."""
        record = self.users.get(chat_id) if isinstance(chat_id, int) else None
        if record is None:
            raise bad_request(CHAT_NOT_FOUND)
        if record.blocked:
            raise ApiError(403, BLOCKED)
        return record

    def bot_sends(self, chat_id: int, draft: Draft) -> StoredMessage:
        """Store a bot message in the chat."""
        return self._store(chat_id, "bot", self.bot_user_short(), draft)

    def answer_press(self, query_id: str, text: str | None, show_alert: bool) -> None:
        """Mark a callback query answered (once) and log the answer in the chat."""
        press = self.presses.get(query_id)
        if press is None or press.answered:
            raise bad_request(QUERY_INVALID)
        press.answered = True
        answer = CallbackAnswer(
            query_id, press.chat_id, press.message_id, press.data, text, show_alert, self.now()
        )
        self.log[press.chat_id].append(answer)
        self.changed()

    def bot_user_short(self) -> dict[str, Any]:
        """The bot's User object as it appears in a message's ``from``."""
        keys = ("id", "is_bot", "first_name", "username")
        return {key: self.bot_user[key] for key in keys}

    def _store(
        self, chat_id: int, sender: Who, from_user: dict[str, Any], draft: Draft
    ) -> StoredMessage:
        """Append a message to a chat with the chat's next message id."""
        message = StoredMessage(
            chat_id=chat_id,
            message_id=next(self._message_ids[chat_id]),
            sender=sender,
            from_user=from_user,
            date=self.now(),
            text=draft.text,
            entities=draft.entities,
            reply_markup=draft.reply_markup,
            photo=draft.photo,
            document=draft.document,
            reply_to=draft.reply_to,
            forward_origin=draft.forward_origin,
        )
        self.messages[chat_id][message.message_id] = message
        self.log[chat_id].append(message)
        self.changed()
        return message

    # -- updates and reading ------------------------------------------------------------------

    def find_message(self, chat_id: Any, message_id: int) -> StoredMessage | None:
        """The chat's message with that id, unless it does not exist or was deleted."""
        chat = self.messages.get(chat_id) if isinstance(chat_id, int) else None
        message = chat.get(message_id) if chat is not None else None
        if message is None or message.deleted:
            return None
        return message

    def message_json(self, message: StoredMessage, *, nested: bool = False) -> dict[str, Any]:
        """The Message object; a reply carries the replied-to message, one level deep only."""
        target = None
        if message.reply_to is not None and not nested:
            target = self.find_message(message.chat_id, message.reply_to)
        reply = None if target is None else self.message_json(target, nested=True)
        return message.as_json(self.users[message.chat_id].chat_json(), reply)

    def queue_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Append an update of ``kind`` (e.g. "message") to the pending queue."""
        update = {"update_id": next(self._update_ids), kind: payload}
        self.updates.append(update)
        self.changed()
        return update

    def queue_raw_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue an update exactly as given (a test's hostile or unusual input).

        ``update`` has no ``update_id`` (the sandbox numbers updates, so offsets keep
        working) and exactly one other field, as every Telegram Update has. Its content is
        not checked against the Bot API beyond being JSON: any shape the bot might receive.
        """
        if not isinstance(update, Mapping):
            raise ControlError("an update must be a JSON object")
        if "update_id" in update:
            raise ControlError("leave update_id out: the sandbox numbers updates")
        if len(update) != 1:
            raise ControlError(f"an update has exactly one field, got {sorted(update)}")
        kind, payload = next(iter(update.items()))
        try:
            copied = json.loads(json.dumps(payload, allow_nan=False))
        except (TypeError, ValueError) as error:
            raise ControlError(f"the update is not JSON: {error}") from None
        self._learn_chats(copied)
        if kind == "callback_query":
            self._learn_press(copied)
        return self.queue_update(str(kind), copied)

    def _learn_press(self, query: Any) -> None:
        """Record a raw callback query as a press, so the bot can answer it (once)."""
        if not isinstance(query, dict) or not isinstance(query.get("id"), str):
            return
        sender = query.get("from")
        message = query.get("message")
        if not isinstance(sender, dict) or type(sender.get("id")) is not int:
            return
        chat = message.get("chat") if isinstance(message, dict) else None
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if type(chat_id) is not int or chat_id not in self.users:
            chat_id = self.user(sender["id"]).user_id  # an inline message's press
        message_id = message.get("message_id") if isinstance(message, dict) else None
        data = query.get("data")
        press = ButtonPress(
            query["id"],
            chat_id,
            message_id if type(message_id) is int else 0,
            None,
            data if isinstance(data, str) else "",
            self.now(),
        )
        self.presses[press.query_id] = press
        self.log[chat_id].append(press)

    def transcript(self, chat_id: int) -> list[TranscriptEntry]:
        """Snapshots of the chat's messages, presses and answers, in order."""
        return [to_entry(item) for item in self.log.get(chat_id, [])]

    def bot_messages(self, chat_id: int) -> list[TranscriptEntry]:
        """The bot's messages in the chat that have not been deleted."""
        return [
            entry
            for entry in self.transcript(chat_id)
            if entry.who == "bot" and entry.kind == "message" and not entry.deleted
        ]


def command_entities(text: str) -> list[dict[str, Any]]:
    """A bot_command entity for a leading ``/command`` (with an optional ``@botname``)."""
    match = _COMMAND.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": len(match.group(0))}]


def _member(status: str, bot_user: dict[str, Any]) -> dict[str, Any]:
    """A ChatMember object for the bot with ``status`` ("member" or "kicked")."""
    member: dict[str, Any] = {"status": status, "user": bot_user}
    if status == "kicked":
        member["until_date"] = 0
    return member
