"""PTB's rate-limiter hook, backed by our Pacer: replies and reminders share one budget.

The dispatcher sends through its own Bot and the Pacer; without this, a handler's
reply to the same chat would race the reminders and meet Telegram's 429, and a
patient's emergency answer could be the message that loses. Every request that
names a chat takes its turn on the same Pacer; a 429 pauses all sending and the
request is tried again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.pacing import Pacer
from bot.sender import retry_after_seconds
from schedules.outbound import Lane

log = logging.getLogger(__name__)
Result = bool | dict[str, Any] | list[dict[str, Any]]


class PacedRateLimiter(BaseRateLimiter[int]):
    def __init__(self, pacer: Pacer, *, max_retries: int = 8) -> None:
        self._pacer = pacer
        self._max_retries = max_retries

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        """``rate_limit_args`` is the send's lane (``Lane.SAFETY`` for an emergency answer),
        given as ``send_message(..., rate_limit_args=Lane.SAFETY)``."""
        chat_id = data.get("chat_id")
        if not isinstance(chat_id, int):  # no chat: button answers, getMe... not paced
            return await callback(*args, **kwargs)
        lane = Lane.REPLY if rate_limit_args is None else Lane(rate_limit_args)
        for _ in range(self._max_retries):
            try:
                async with self._pacer.turn(chat_id, lane):
                    return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = retry_after_seconds(error)
                log.warning("429 on %s: all sending waits %.1f s, then retries", endpoint, seconds)
                self._pacer.pause(seconds)
        async with self._pacer.turn(chat_id, lane):  # the last try: its 429 reaches the handler
            return await callback(*args, **kwargs)
