"""The Bot API methods the sandbox implements (all but getUpdates, see ``polling.py``).

Each handler takes parameters already coerced to the spec's types and returns the ``result``
Telegram would return, or raises :class:`~bot.sandbox.errors.ApiError`. Sending methods pass
through the rate limiter; edits, deletions and callback answers are exempt, as in Telegram.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from bot.sandbox.errors import (
    CANT_EDIT,
    CHAT_ID_EMPTY,
    CHAT_NOT_FOUND,
    COPY_NOT_FOUND,
    DELETE_NOT_FOUND,
    EDIT_NOT_FOUND,
    FILE_TOO_BIG,
    FORWARD_NOT_FOUND,
    INVALID_FILE_ID,
    MESSAGE_ID_MISSING,
    NO_TEXT_TO_EDIT,
    NOT_MODIFIED,
    REPLY_NOT_FOUND,
    TEXT_EMPTY,
    UNSUPPORTED,
    bad_request,
    too_many_requests,
)
from bot.sandbox.files import DOWNLOAD_LIMIT, Upload
from bot.sandbox.formatting import render_caption, render_text
from bot.sandbox.limits import RateLimiter
from bot.sandbox.markup import validate_reply_markup
from bot.sandbox.model import Draft, StoredMessage
from bot.sandbox.state import World

Params = dict[str, Any]
Handler = Callable[[Params], Awaitable[Any]]

HARMLESS_SETTERS = frozenset(
    {
        "setmydescription",
        "setmyshortdescription",
        "setmyname",
        "setchatmenubutton",
        "setmydefaultadministratorrights",
    }
)
"""Spec'd but unimplemented methods that only change the bot's profile: answered ``true``."""

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class BotMethods:
    """Handlers for the implemented methods, keyed by lower-cased method name."""

    def __init__(self, world: World, limiter: RateLimiter) -> None:
        self.world = world
        self.limiter = limiter
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}

    def table(self) -> dict[str, Handler]:
        """Lower-cased method name → handler."""
        handlers: dict[str, Handler] = {
            "getme": self.get_me,
            "sendmessage": self.send_message,
            "sendphoto": self.send_photo,
            "senddocument": self.send_document,
            "getfile": self.get_file,
            "copymessage": self.copy_message,
            "forwardmessage": self.forward_message,
            "editmessagetext": self.edit_message_text,
            "editmessagereplymarkup": self.edit_message_reply_markup,
            "deletemessage": self.delete_message,
            "answercallbackquery": self.answer_callback_query,
            "setmycommands": self.set_my_commands,
            "getmycommands": self.get_my_commands,
            "deletemycommands": self.delete_my_commands,
            "setwebhook": self.set_webhook,
            "deletewebhook": self.delete_webhook,
            "getwebhookinfo": self.get_webhook_info,
            "sendchataction": self.send_chat_action,
            "close": self.always_true,
            "logout": self.always_true,
        }
        handlers.update(dict.fromkeys(HARMLESS_SETTERS, self.always_true))
        return handlers

    async def unsupported(self, params: Params) -> Any:
        """Any other spec'd method: the sandbox refuses it plainly."""
        raise bad_request(UNSUPPORTED)

    async def always_true(self, params: Params) -> Any:
        """close, logOut and the harmless profile setters."""
        return True

    async def get_me(self, params: Params) -> Any:
        """The bot's own User object."""
        return dict(self.world.bot_user)

    async def send_message(self, params: Params) -> Any:
        """Send a text message (1-4096 characters after formatting) to a private chat."""
        record = self.world.chat_for_bot(params["chat_id"])
        text, entities = render_text(
            params["text"], params.get("parse_mode"), params.get("entities")
        )
        draft = Draft(text, entities, reply_markup=_markup(params))
        return self._deliver(record.user_id, draft, params)

    async def send_photo(self, params: Params) -> Any:
        """Send an uploaded photo or one by a file_id the sandbox issued, with a caption of up
        to 1024 characters.

        An upload must be a PNG, GIF or JPEG (else 400 "IMAGE_PROCESS_FAILED") whose width and
        height add up to at most 10000 with a ratio of at most 20 ("PHOTO_INVALID_DIMENSIONS").
        Telegram also takes an HTTP URL: the sandbox answers it like an unknown file_id (400
        "wrong file identifier/HTTP URL specified"); a document's file_id is "type of file
        mismatch".
        """
        record = self.world.chat_for_bot(params["chat_id"])
        caption, entities = _caption(params)
        given = params["photo"]
        photo = (
            self.world.photos.upload(given)
            if isinstance(given, Upload)
            else self.world.photos.lookup(given)
        )
        draft = Draft(caption, entities, photo, reply_markup=_markup(params))
        return self._deliver(record.user_id, draft, params)

    async def send_document(self, params: Params) -> Any:
        """Send an uploaded file, or a document by a file_id the sandbox issued (a photo's is
        "type of file mismatch"), with a caption of up to 1024 characters."""
        record = self.world.chat_for_bot(params["chat_id"])
        caption, entities = _caption(params)
        given = params["document"]
        document = (
            self.world.documents.issue(given)
            if isinstance(given, Upload)
            else self.world.documents.lookup(given)
        )
        draft = Draft(caption, entities, document=document, reply_markup=_markup(params))
        return self._deliver(record.user_id, draft, params)

    async def get_file(self, params: Params) -> Any:
        """The File object of an issued file: ``file_path`` when its bytes can be downloaded
        from ``/file/bot<token>/<file_path>``; files over 20 MB are "file is too big"."""
        stored = self.world.files.find(params["file_id"])
        if stored is None:
            raise bad_request(INVALID_FILE_ID)
        if stored.size > DOWNLOAD_LIMIT:
            raise bad_request(FILE_TOO_BIG)
        return stored.file_json()

    async def copy_message(self, params: Params) -> Any:
        """Copy a message without a link to it; a new caption replaces a photo's caption.

        The copy keeps no keyboard of the original: only ``reply_markup`` sent with the call.
        """
        record = self.world.chat_for_bot(params["chat_id"])
        draft = self._source(params, COPY_NOT_FOUND).content_draft()
        if (draft.photo is not None or draft.document is not None) and "caption" in params:
            caption, entities = _caption(params)
            draft = replace(draft, text=caption, entities=entities)
        draft = replace(draft, reply_markup=_markup(params))
        message = self._deliver(record.user_id, draft, params)
        return {"message_id": message["message_id"]}

    async def forward_message(self, params: Params) -> Any:
        """Forward a message: same content, ``forward_origin`` naming its first sender."""
        record = self.world.chat_for_bot(params["chat_id"])
        source = self._source(params, FORWARD_NOT_FOUND)
        draft = replace(source.content_draft(), forward_origin=source.origin())
        return self._deliver(record.user_id, draft, params)

    async def edit_message_text(self, params: Params) -> Any:
        """Replace a bot message's text; its inline keyboard goes unless sent again."""
        message = self._editable(params, EDIT_NOT_FOUND)
        if message.content != "text":
            raise bad_request(NO_TEXT_TO_EDIT)
        if "text" not in params:
            raise bad_request(TEXT_EMPTY)
        text, entities = render_text(
            params["text"], params.get("parse_mode"), params.get("entities")
        )
        markup = _markup(params)
        same_text = text == message.text and entities == message.entities
        if same_text and markup == _inline_only(message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        if not same_text:
            message.history.append(message.text)
            message.text, message.entities = text, entities
            message.edit_date = self.world.now()
        message.reply_markup = markup
        self.world.changed()
        return self.world.message_json(message)

    async def edit_message_reply_markup(self, params: Params) -> Any:
        """Replace (or, without reply_markup, remove) a bot message's inline keyboard."""
        message = self._editable(params, EDIT_NOT_FOUND)
        markup = _markup(params)
        if markup == _inline_only(message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        message.reply_markup = markup
        self.world.changed()
        return self.world.message_json(message)

    async def delete_message(self, params: Params) -> Any:
        """Delete a message of either side from a private chat."""
        chat = self.world.messages.get(params["chat_id"])
        if chat is None:
            raise bad_request(CHAT_NOT_FOUND)
        message = chat.get(params["message_id"])
        if message is None or message.deleted:
            raise bad_request(DELETE_NOT_FOUND)
        message.deleted = True
        self.world.changed()
        return True

    async def answer_callback_query(self, params: Params) -> Any:
        """Answer a button press once; later or unknown query ids are refused."""
        text = params.get("text")
        if text is not None and len(text) > 200:
            raise bad_request("Bad Request: MESSAGE_TOO_LONG")
        self.world.answer_press(
            params["callback_query_id"], text, bool(params.get("show_alert", False))
        )
        return True

    async def set_my_commands(self, params: Params) -> Any:
        """Store the command list for a scope and language."""
        commands = params["commands"]
        if len(commands) > 100:
            raise bad_request("Bad Request: too many commands specified")
        cleaned = [_command(item) for item in commands]
        self.commands[_scope_key(params)] = cleaned
        return True

    async def get_my_commands(self, params: Params) -> Any:
        """The command list stored for a scope and language (empty if none)."""
        return list(self.commands.get(_scope_key(params), []))

    async def delete_my_commands(self, params: Params) -> Any:
        """Forget the command list for a scope and language."""
        self.commands.pop(_scope_key(params), None)
        return True

    async def set_webhook(self, params: Params) -> Any:
        """Set the webhook: from now on pending updates are POSTed to it (``webhook.py``)."""
        url = params["url"]
        if not url.lower().startswith("https://"):
            raise bad_request("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and _SECRET_TOKEN.fullmatch(secret) is None:
            raise bad_request("Bad Request: secret token contains unallowed characters")
        self.world.webhook = {
            "url": url,
            "secret_token": params.get("secret_token"),
            "max_connections": params.get("max_connections", 40),
            "allowed_updates": params.get("allowed_updates"),
        }
        if params.get("drop_pending_updates"):
            self.world.updates.clear()
        self.world.changed()
        return True

    async def delete_webhook(self, params: Params) -> Any:
        """Forget the webhook, optionally dropping pending updates."""
        self.world.webhook = {}
        if params.get("drop_pending_updates"):
            self.world.updates.clear()
        self.world.changed()
        return True

    async def get_webhook_info(self, params: Params) -> Any:
        """The WebhookInfo object: url ("" when polling) and pending update count."""
        info: dict[str, Any] = {
            "url": self.world.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.world.updates),
        }
        if info["url"]:
            info["max_connections"] = self.world.webhook["max_connections"]
            if self.world.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.world.webhook["allowed_updates"]
            for key in ("last_error_date", "last_error_message"):
                if key in self.world.webhook:
                    info[key] = self.world.webhook[key]
        return info

    async def send_chat_action(self, params: Params) -> Any:
        """Show "typing…" and the like; checked, counted and otherwise ignored."""
        self.world.chat_for_bot(params["chat_id"])
        if params["action"] not in CHAT_ACTIONS:
            raise bad_request("Bad Request: wrong parameter action in request")
        return True

    def _deliver(self, chat_id: int, draft: Draft, params: Params) -> dict[str, Any]:
        """Send a bot message within the rate limits (429 beyond them) as a reply if asked."""
        draft = replace(draft, reply_to=self._reply_target(chat_id, params))
        wait = self.limiter.retry_after(chat_id)
        if wait is not None:
            raise too_many_requests(wait)
        message = self.world.bot_sends(chat_id, draft)
        self.limiter.record(chat_id)
        return self.world.message_json(message)

    def _reply_target(self, chat_id: int, params: Params) -> int | None:
        """The id of the message ``reply_parameters`` names in this chat, if any.

        Replies to other chats (Telegram's external replies) are not simulated: they count as
        not found. ``allow_sending_without_reply`` sends a plain message instead of failing.
        """
        wanted = params.get("reply_parameters")
        if wanted is None:
            return None
        if not isinstance(wanted, dict):
            raise bad_request("Bad Request: can't parse reply parameters JSON object")
        message_id = wanted.get("message_id")
        in_chat = wanted.get("chat_id") in (None, chat_id)
        if isinstance(message_id, int) and in_chat and self.world.find_message(chat_id, message_id):
            return message_id
        if wanted.get("allow_sending_without_reply"):
            return None
        raise bad_request(REPLY_NOT_FOUND)

    def _source(self, params: Params, not_found: str) -> StoredMessage:
        """The message a copy or forward takes from ``from_chat_id``."""
        from_chat = params["from_chat_id"]
        if not isinstance(from_chat, int) or from_chat not in self.world.messages:
            raise bad_request(CHAT_NOT_FOUND)
        message = self.world.find_message(from_chat, params["message_id"])
        if message is None:
            raise bad_request(not_found)
        return message

    def _editable(self, params: Params, not_found: str) -> StoredMessage:
        """The bot message an edit targets, or the error Telegram gives for it."""
        if "inline_message_id" in params:
            raise bad_request(UNSUPPORTED)
        if "chat_id" not in params:
            raise bad_request(CHAT_ID_EMPTY)
        if "message_id" not in params:
            raise bad_request(MESSAGE_ID_MISSING)
        record = self.world.chat_for_bot(params["chat_id"])
        message = self.world.messages[record.user_id].get(params["message_id"])
        if message is None or message.deleted:
            raise bad_request(not_found)
        if message.sender != "bot":
            raise bad_request(CANT_EDIT)
        return message


def _markup(params: Params) -> dict[str, Any] | None:
    """The validated reply_markup parameter, if one was sent."""
    if "reply_markup" not in params:
        return None
    return validate_reply_markup(params["reply_markup"])


def _caption(params: Params) -> tuple[str, list[dict[str, Any]]]:
    """The formatted ``caption`` parameter ("" without one) and its entities."""
    return render_caption(
        params.get("caption"), params.get("parse_mode"), params.get("caption_entities")
    )


def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Only inline keyboards stay attached to a sent message."""
    if markup is not None and "inline_keyboard" in markup:
        return markup
    return None


def _command(item: Any) -> dict[str, str]:
    """One BotCommand, checked the way Telegram checks it."""
    if not isinstance(item, dict):
        raise bad_request("Bad Request: can't parse commands JSON object")
    command, description = item.get("command"), item.get("description")
    if not isinstance(command, str) or not _COMMAND_NAME.match(command):
        raise bad_request("Bad Request: BOT_COMMAND_INVALID")
    if not isinstance(description, str) or not 1 <= len(description) <= 256:
        raise bad_request("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
    return {"command": command, "description": description}


def _scope_key(params: Params) -> tuple[str, str]:
    """Commands are stored per (scope, language_code)."""
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")
