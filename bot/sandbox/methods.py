"""The Bot API methods the sandbox implements (all but getUpdates, see ``polling.py``).

Each handler takes parameters already coerced to the spec's types and returns the ``result``
Telegram would return, or raises :class:`~bot.sandbox.errors.ApiError`. Sending methods pass
through the rate limiter; edits, deletions and callback answers are exempt, as in Telegram.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from bot.sandbox.errors import (
    CANT_EDIT,
    CHAT_ID_EMPTY,
    CHAT_NOT_FOUND,
    DELETE_NOT_FOUND,
    EDIT_NOT_FOUND,
    MESSAGE_ID_MISSING,
    NOT_MODIFIED,
    TEXT_EMPTY,
    UNSUPPORTED,
    bad_request,
    too_many_requests,
)
from bot.sandbox.formatting import render_text
from bot.sandbox.limits import RateLimiter
from bot.sandbox.markup import validate_reply_markup
from bot.sandbox.model import StoredMessage
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
        markup = _markup(params)
        wait = self.limiter.retry_after(record.user_id)
        if wait is not None:
            raise too_many_requests(wait)
        message = self.world.bot_sends(record.user_id, text, entities, markup)
        self.limiter.record(record.user_id)
        return message

    async def edit_message_text(self, params: Params) -> Any:
        """Replace a bot message's text; its inline keyboard goes unless sent again."""
        message = self._editable(params, EDIT_NOT_FOUND)
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
        return message.as_json(self.world.users[message.chat_id].chat_json())

    async def edit_message_reply_markup(self, params: Params) -> Any:
        """Replace (or, without reply_markup, remove) a bot message's inline keyboard."""
        message = self._editable(params, EDIT_NOT_FOUND)
        markup = _markup(params)
        if markup == _inline_only(message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        message.reply_markup = markup
        self.world.changed()
        return message.as_json(self.world.users[message.chat_id].chat_json())

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
        """Remember the webhook url and secret; the sandbox never calls it."""
        url = params["url"]
        if not url.lower().startswith("https://"):
            raise bad_request("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
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
        return info

    async def send_chat_action(self, params: Params) -> Any:
        """Show "typing…" and the like; checked, counted and otherwise ignored."""
        self.world.chat_for_bot(params["chat_id"])
        if params["action"] not in CHAT_ACTIONS:
            raise bad_request("Bad Request: wrong parameter action in request")
        return True

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
