"""The retention job: forget patients whose aftercare ended long ago, once a (clock) day."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from schedules.clock import Clock
from schedules.db import SessionFactory
from schedules.privacy import Counts, purge_expired

log = logging.getLogger(__name__)


class Retention:
    """Runs ``purge_expired`` at most once per UTC day of the clock (again after a restart)."""

    def __init__(self, sessions: SessionFactory, clock: Clock, keep_for: timedelta) -> None:
        self._sessions = sessions
        self._clock = clock
        self._keep_for = keep_for
        self._last_day: date | None = None

    async def run_if_due(self) -> Counts | None:
        """Purge if it has not run today; never raises (the dispatch pass must go on)."""
        now = self._clock.now()
        if self._last_day == now.date():
            return None
        self._last_day = now.date()
        try:
            counts = await purge_expired(self._sessions, now, self._keep_for)
        except Exception:
            log.exception("retention purge failed")
            return None
        if counts.patients:
            log.info("retention forgot expired patients %s", counts.describe())
        return counts
