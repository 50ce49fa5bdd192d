"""Delivering broadcasts: claimed per recipient, paced with the reminders, resumable.

(Filled in by the broadcasts work; the daemon already calls ``run_due`` each pass.)
"""

from __future__ import annotations

from datetime import datetime

from schedules.clock import Clock
from schedules.db import SessionFactory
from schedules.outbound import Sender


class Broadcaster:
    def __init__(self, sessions: SessionFactory, clock: Clock, sender: Sender, worker: str) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sender = sender
        self._worker = worker

    async def run_due(self) -> int:
        """Send one batch of pending deliveries; returns how many were sent."""
        return 0

    async def next_due(self) -> datetime | None:
        return None
