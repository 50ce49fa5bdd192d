"""The daemon's outgoing work as loops, each a pass run whenever the daemon is woken.

Three run side by side (bot/daemon.py): safety (spooled symptom reports, staff alerts),
care (reminders) and bulk (broadcasts). In one loop a reminder backlog after an outage
held up staff alerts for minutes, and a broadcast batch held up reminders; apart, each
takes the next free slot of its lane at the pacer (``schedules.outbound.Lane``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class PassLoop:
    """One kind of work: ``run_pass`` does one pass and says whether more is due at once
    (then the loop goes again); ``after_pass`` (the daemon's alarm) runs after each pass of
    the loop, not of ``run_once``."""

    name: str
    run_pass: Callable[[], Awaitable[bool]]
    after_pass: Callable[[], Awaitable[None]] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _woken: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"{self.name}-loop")

    def wake(self) -> None:
        self._woken.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run_once(self) -> bool:
        """One pass now, after any pass in progress (tests call this on a fixed clock)."""
        async with self.lock:
            return await self.run_pass()

    async def stop(self, patience: float) -> None:
        """Let a pass in progress end (up to ``patience`` seconds), then stop the loop; the
        lock stays held, so nothing starts another pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.lock.acquire(), timeout=patience)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await self._woken.wait()
            self._woken.clear()
            try:
                if await self.run_once():
                    self._woken.set()
                if self.after_pass is not None:
                    await self.after_pass()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next wake retries; never let the loop die
                log.exception("%s pass failed", self.name)
