"""The Telegram side of the ``Sender`` port: PTB's Bot, paced, with every answer classified.

| Bot API answer                        | outcome                        |
| 429 retry_after                       | RateLimited (all sending pauses) |
| 403, 400 chat not found / deactivated | Unreachable                    |
| 400 other                             | Rejected                       |
| timeout                               | Transient(maybe_sent=True)     |
| 5xx, network                          | Transient                      |
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.pacing import Pacer
from schedules.outbound import (
    Outbound,
    RateLimited,
    Rejected,
    SendOutcome,
    Sent,
    Transient,
    Unreachable,
)

_GONE = ("chat not found", "user is deactivated", "bot was blocked", "peer_id_invalid")


def keyboard(message: Outbound) -> InlineKeyboardMarkup | None:
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

    async def send(self, message: Outbound) -> SendOutcome:
        await self._pacer.wait_turn(message.chat_id)
        try:
            sent = await self._bot.send_message(
                chat_id=message.chat_id, text=message.text, reply_markup=keyboard(message)
            )
        except RetryAfter as error:
            seconds = retry_after_seconds(error)
            self._pacer.pause(seconds)
            return RateLimited(retry_after=seconds)
        except Forbidden:
            return Unreachable(reason="forbidden")
        except BadRequest as error:
            return classify_bad_request(error.message)
        except TimedOut as error:
            # A pool timeout never left this process; any other timeout may have arrived.
            not_sent = "pool" in error.message.lower()
            return Transient(reason="timeout", maybe_sent=not not_sent)
        except NetworkError as error:
            return Transient(reason=f"network: {type(error).__name__}")
        return Sent(message_id=sent.message_id)


def classify_bad_request(description: str) -> SendOutcome:
    lowered = description.lower()
    if any(marker in lowered for marker in _GONE):
        return Unreachable(reason="chat gone")
    return Rejected(reason=description[:200])
