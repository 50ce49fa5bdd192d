"""Updates of different chats handled side by side, those of one chat in the order they came.

PTB handles one update at a time by default, so a handler that waits (for Telegram, for
its chat's one-second gap, for the database) makes every other patient wait too: an
emergency typed behind ten button taps was answered after eleven seconds. With this
processor a chat waits only for its own earlier updates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# Updates taken at once (PTB's semaphore); those of a chat already busy wait inside it for
# their turn, so this is generous: one chat's flood must not hold up everyone else.
MAX_CONCURRENT_UPDATES = 256


@dataclass
class _ChatLine:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class ChatOrderedUpdates(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._lines: dict[int, _ChatLine] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[object]) -> None:
        # PTB starts one task per update in arrival order, and its semaphore and our lock
        # both wake waiters first come, first served: a chat's updates run in arrival order.
        async with self._chat_line(_chat_of(update)):
            await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @asynccontextmanager
    async def _chat_line(self, chat_id: int | None) -> AsyncIterator[None]:
        if chat_id is None:
            yield
            return
        line = self._lines.setdefault(chat_id, _ChatLine())
        line.users += 1
        try:
            async with line.lock:
                yield
        finally:
            line.users -= 1
            if line.users == 0:
                del self._lines[chat_id]


def _chat_of(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return None
