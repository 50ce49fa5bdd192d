"""Telegram's outbound limits, kept on the injected clock: a budget per bot and a gap per chat.

A send may go when three things hold: ``1 / per_second`` has passed since the bot's previous
send, ``per_chat_interval`` since the previous send to the same chat, and no 429 pause is
running. ``turn`` and ``wait_turn`` book a send at the moment it really goes, not at the moment
it hoped to go: a waiter that wakes late (a busy event loop, a stalled process) pushes the next slots
back instead of leaving in a bunch with the ones behind it, which is what Telegram would answer
with 429s. Messages to one chat leave in the order they asked; a chat waiting for its own gap
holds up nobody else.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from schedules.clock import Clock, sleep_on
from schedules.outbound import BULK_SHARE, Lane


class _LaneLock:
    """A lock whose waiters go by lane (``Lane.SAFETY`` first), first come first served
    within a lane. While replies or reminders wait, a waiting bulk message still gets one
    turn in ``BULK_SHARE``: a broadcast slows down under a backlog of reminders but never
    stops."""

    def __init__(self) -> None:
        self._held = False
        self._lines: dict[Lane, deque[asyncio.Future[None]]] = {lane: deque() for lane in Lane}
        self._bulk_passed_over = 0

    async def acquire(self, lane: Lane) -> None:
        if not self._held and not any(self._lines.values()):
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lines[lane].append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the lock as we were cancelled: pass it on
            raise

    def release(self) -> None:
        while (line := self._next_line()) is not None:
            waiter = line.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the lock passes straight to it
                return
        self._held = False

    def _next_line(self) -> deque[asyncio.Future[None]] | None:
        waiting = [lane for lane in Lane if self._lines[lane]]
        if not waiting:
            return None
        first = waiting[0]
        if first in (Lane.REPLY, Lane.CARE) and Lane.BULK in waiting:
            self._bulk_passed_over += 1
            if self._bulk_passed_over >= BULK_SHARE:
                first = Lane.BULK
        if first == Lane.BULK:
            self._bulk_passed_over = 0
        return self._lines[first]

    @asynccontextmanager
    async def held(self, lane: Lane) -> AsyncIterator[None]:
        await self.acquire(lane)
        try:
            yield
        finally:
            self.release()


@dataclass
class _ChatLine:
    """The queue of sends to one chat, and how many are in it (to forget it when empty)."""

    lock: _LaneLock = field(default_factory=_LaneLock)
    users: int = 0


class Pacer:
    """One per bot token: every send to Telegram asks it for a turn first."""

    def __init__(
        self,
        clock: Clock,
        *,
        per_second: float,
        per_chat_interval: float = 1.0,
        memory: int = 10_000,
        on_pause: Callable[[float], None] | None = None,
    ) -> None:
        if per_second <= 0 or per_chat_interval < 0:
            raise ValueError("per_second must be positive and per_chat_interval not negative")
        self._clock = clock
        self._gap = 1.0 / per_second
        self._chat_gap = per_chat_interval
        self._next_slot = float("-inf")
        self._next_for_chat: dict[int, float] = {}
        self._paused_until = float("-inf")
        self._memory = memory
        self._prune_at = memory
        self._bot_line = _LaneLock()
        self._chat_lines: dict[int, _ChatLine] = {}
        self._on_pause = on_pause  # e.g. counting 429s for the metrics

    @property
    def chats_remembered(self) -> int:
        """How many chats the pacer still keeps a next slot for (old ones are forgotten)."""
        return len(self._next_for_chat)

    def reserve(self, chat_id: int) -> float:
        """Book the earliest slot for ``chat_id`` from now on; returns how long to wait for it.

        Bookings are kept in order: a slot booked far ahead (a chat that just had a message)
        holds up the bookings after it. ``wait_turn`` avoids that by booking only once the chat
        is ready.
        """
        now = self._clock.monotonic()
        start = max(now, self._earliest(chat_id))
        self._book(chat_id, start)
        return start - now

    async def wait_turn(self, chat_id: int, lane: Lane = Lane.CARE) -> None:
        """Return when a message to ``chat_id`` may go; the send is counted from that moment."""
        async with self._chat_line(chat_id, lane):
            await self._take_slot(chat_id, lane)

    @asynccontextmanager
    async def turn(self, chat_id: int, lane: Lane = Lane.CARE) -> AsyncIterator[None]:
        """Send to ``chat_id`` inside this block: it starts when the message may go, and the
        chat's next message waits ``per_chat_interval`` from when this one's answer came back.

        Counting the chat's gap from the answer, not from the request, keeps messages to one
        chat in order and apart when they reach Telegram, however long the request took.
        A send goes before those of later lanes still waiting, in its chat's line and in the
        bot's (``Lane``; it cannot overtake a send already on the wire).
        """
        async with self._chat_line(chat_id, lane):
            await self._take_slot(chat_id, lane)
            try:
                yield
            finally:
                answered = self._clock.monotonic()
                ready = max(self._chat_ready(chat_id), answered + self._chat_gap)
                self._next_for_chat[chat_id] = ready

    async def wait_chat(self, chat_id: int) -> None:
        """Return once ``chat_id``'s own gap has passed; books nothing (``turn`` does)."""
        await sleep_on(self._clock, self._chat_ready(chat_id) - self._clock.monotonic())

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nobody sends before ``seconds`` from now."""
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)
        if self._on_pause is not None:
            self._on_pause(seconds)

    async def _take_slot(self, chat_id: int, lane: Lane) -> None:
        """Wait until ``chat_id`` may send, then book the send at that real moment."""
        # The chat's own gap first, holding up no other chat.
        await sleep_on(self._clock, self._chat_ready(chat_id) - self._clock.monotonic())
        async with self._bot_line.held(lane):
            while (wait := self._earliest(chat_id) - self._clock.monotonic()) > 0:
                # The bot's gap, a 429 pause that began meanwhile, or an early wake-up.
                await sleep_on(self._clock, wait)
            self._book(chat_id, self._clock.monotonic())

    def _chat_ready(self, chat_id: int) -> float:
        return self._next_for_chat.get(chat_id, float("-inf"))

    def _earliest(self, chat_id: int) -> float:
        return max(self._next_slot, self._paused_until, self._chat_ready(chat_id))

    def _book(self, chat_id: int, start: float) -> None:
        self._next_slot = max(self._next_slot, start + self._gap)
        self._next_for_chat[chat_id] = max(self._chat_ready(chat_id), start + self._chat_gap)
        if len(self._next_for_chat) > self._prune_at:
            self._forget_before(self._clock.monotonic())

    def _forget_before(self, moment: float) -> None:
        """Drop chats whose next slot has passed; they send as if never seen, which is right."""
        self._next_for_chat = {c: t for c, t in self._next_for_chat.items() if t > moment}
        # If most chats are still waiting, prune again only once the map has doubled, so a
        # large backlog does not make every booking walk the whole map.
        self._prune_at = max(self._memory, 2 * len(self._next_for_chat))

    @asynccontextmanager
    async def _chat_line(self, chat_id: int, lane: Lane) -> AsyncIterator[None]:
        line = self._chat_lines.setdefault(chat_id, _ChatLine())
        line.users += 1
        try:
            async with line.lock.held(lane):
                yield
        finally:
            line.users -= 1
            if line.users == 0:
                del self._chat_lines[chat_id]
