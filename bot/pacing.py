"""Telegram's outbound limits, kept by reservation: a budget per bot and a gap per chat.

Each send reserves the earliest slot that respects both the bot-wide rate and
one message per second per chat, then waits for it on the injected clock. A 429
pauses everything until its ``retry_after`` has passed.
"""

from __future__ import annotations

from schedules.clock import Clock, sleep_on


class Pacer:
    def __init__(self, clock: Clock, *, per_second: float, per_chat_interval: float = 1.0) -> None:
        self._clock = clock
        self._gap = 1.0 / per_second
        self._chat_gap = per_chat_interval
        self._next_slot = 0.0
        self._next_for_chat: dict[int, float] = {}
        self._paused_until = 0.0

    def reserve(self, chat_id: int) -> float:
        """Book the next slot for ``chat_id``; returns how long to wait for it."""
        now = self._clock.monotonic()
        start = max(now, self._next_slot, self._paused_until, self._next_for_chat.get(chat_id, 0.0))
        self._next_slot = start + self._gap
        self._next_for_chat[chat_id] = start + self._chat_gap
        if len(self._next_for_chat) > 10_000:
            self._forget_before(now)
        return start - now

    async def wait_turn(self, chat_id: int) -> None:
        await sleep_on(self._clock, self.reserve(chat_id))

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nobody sends before ``seconds`` from now."""
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    def _forget_before(self, moment: float) -> None:
        self._next_for_chat = {c: t for c, t in self._next_for_chat.items() if t > moment}
