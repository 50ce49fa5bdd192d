"""The Telegram side of the ``Sender`` port: PTB's Bot, paced, with every answer classified.

| Bot API answer                          | outcome                          |
| 429 retry_after                         | RateLimited (all sending pauses) |
| 403, 400 chat not found / deactivated   | Unreachable                      |
| 400 migrated to a supergroup            | Unreachable (new id in reason)   |
| 400 other                               | Rejected                         |
| timeout, connection lost before answer  | Transient(maybe_sent=True)       |
| 5xx, pool/connect timeout, refused      | Transient(maybe_sent=False)      |
| any other Telegram error                | Transient                        |
| 401/404 (wrong token or base URL)       | raised: the deployment is wrong, |
|                                         | not this message                 |
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.pacing import Pacer
from schedules.outbound import (
    Edit,
    Outbound,
    RateLimited,
    Rejected,
    SendOutcome,
    Sent,
    Transient,
    Unreachable,
)

CAPTION_LIMIT = 1024  # Telegram's limit for a photo's caption
_GONE = (
    "chat not found",
    "user is deactivated",
    "bot was blocked",
    "peer_id_invalid",
    "group chat was deactivated",
)
# The request never left this process: no connection, or none free in the pool.
_NEVER_LEFT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request left and the connection died before the answer: Telegram may have it.
_LOST_ANSWER = (httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError)


def keyboard(message: Outbound | Edit) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
            for row in message.buttons
        ]
    )


def retry_after_seconds(error: RetryAfter) -> float:
    """PTB 22 may hand back an int or a timedelta; read it either way, quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    def __init__(self, bot: Bot, pacer: Pacer) -> None:
        self._bot = bot
        self._pacer = pacer

    async def wait_ready(self, chat_id: int) -> None:
        await self._pacer.wait_chat(chat_id)

    async def send(self, message: Outbound) -> SendOutcome:
        try:
            async with self._pacer.turn(message.chat_id, message.lane):
                sent = await self._deliver(message)
        except RetryAfter as error:
            seconds = retry_after_seconds(error)
            self._pacer.pause(seconds)
            return RateLimited(retry_after=seconds)
        except Forbidden:
            return Unreachable(reason="forbidden")
        except BadRequest as error:
            return classify_bad_request(error.message)
        except TimedOut as error:
            # A pool or connect timeout never left this process; any other may have arrived.
            never_left = isinstance(error.__cause__, _NEVER_LEFT) or "pool" in error.message.lower()
            return Transient(reason="timeout", maybe_sent=not never_left)
        except NetworkError as error:
            # Only the error's type: httpx messages can carry the URL, and so the token.
            lost = isinstance(error.__cause__, _LOST_ANSWER)
            return Transient(reason=f"network: {type(error).__name__}", maybe_sent=lost)
        except ChatMigrated as error:
            return Unreachable(reason=f"chat migrated to {error.new_chat_id}")
        except InvalidToken:
            raise
        except TelegramError as error:
            return Transient(reason=f"telegram: {type(error).__name__}")
        return Sent(message_id=sent.message_id)

    async def edit(self, edit: Edit) -> SendOutcome:
        """Edit a bot message's text in place, paced like a send; "not modified" is fine."""
        try:
            async with self._pacer.turn(edit.chat_id):
                await self._bot.edit_message_text(
                    edit.text,
                    chat_id=edit.chat_id,
                    message_id=edit.message_id,
                    reply_markup=keyboard(edit),
                )
        except RetryAfter as error:
            seconds = retry_after_seconds(error)
            self._pacer.pause(seconds)
            return RateLimited(retry_after=seconds)
        except Forbidden:
            return Unreachable(reason="forbidden")
        except BadRequest as error:
            if "not modified" in error.message.lower():
                return Sent(message_id=edit.message_id)
            return classify_bad_request(error.message)
        except TimedOut:
            return Transient(reason="timeout", maybe_sent=True)
        except NetworkError as error:
            return Transient(reason=f"network: {type(error).__name__}", maybe_sent=True)
        except InvalidToken:
            raise
        except TelegramError as error:
            return Transient(reason=f"telegram: {type(error).__name__}")
        return Sent(message_id=edit.message_id)

    async def _deliver(self, message: Outbound) -> Message:
        if message.photo is not None:
            return await self._bot.send_photo(
                chat_id=message.chat_id,
                photo=message.photo,
                caption=message.text[:CAPTION_LIMIT],
                reply_markup=keyboard(message),
            )
        return await self._bot.send_message(
            chat_id=message.chat_id, text=message.text, reply_markup=keyboard(message)
        )


def classify_bad_request(description: str) -> SendOutcome:
    lowered = description.lower()
    if any(marker in lowered for marker in _GONE):
        return Unreachable(reason="chat gone")
    return Rejected(reason=description[:200])
