"""Updates of one chat in arrival order, other chats beside them (bot/updates.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update

from bot.updates import ChatOrderedUpdates


def text_update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    message = Message(update_id, datetime(2026, 1, 1, tzinfo=UTC), chat, text="hi")
    return Update(update_id, message=message)


async def test_a_chat_waits_for_its_own_earlier_update_only() -> None:
    processor = ChatOrderedUpdates()
    release_first = asyncio.Event()
    done: list[int] = []

    async def handle(update_id: int, gate: asyncio.Event | None) -> None:
        if gate is not None:
            await gate.wait()
        done.append(update_id)

    # As PTB does: one task per update, started in arrival order.
    tasks = [
        asyncio.create_task(processor.process_update(text_update(1, 10), handle(1, release_first))),
        asyncio.create_task(processor.process_update(text_update(2, 10), handle(2, None))),
        asyncio.create_task(processor.process_update(text_update(3, 20), handle(3, None))),
    ]
    await tasks[2]
    assert done == [3]  # the other chat went ahead; chat 10's second update waits
    release_first.set()
    await asyncio.gather(*tasks)
    assert done == [3, 1, 2]
