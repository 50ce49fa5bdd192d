"""A world (sandbox + real daemon + SQLite + fixed clock) that outlives one test function.

Hypothesis runs a test body many times and does not mix with function-scoped async
fixtures, so the world here lives on its own event loop (an ``asyncio.Runner``) and each
example runs its coroutine there with :meth:`LiveWorld.run`. Between runs the loop is
paused, not closed: the daemon's polling and the sandbox carry on where they were.

Errors are caught where PTB reports them: a handler's exception reaches the error handler
(``bot.handlers.fallbacks.on_error``), which logs at ERROR; PTB's own loops log at ERROR or
CRITICAL. :class:`ErrorLog` keeps every such record, from any logger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.daemon import Daemon
from bot.sandbox.limits import Limits
from bot.sandbox.server import Sandbox
from bot.settings import Settings
from schedules.clock import FixedClock
from tests.e2e.harness import TOKEN, World, stop_world

_T = TypeVar("_T")


class ErrorLog(logging.Handler):
    """Keeps every record at ERROR or above (with the exception's repr, never the text)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        shown = []
        for record in self.records:
            error = record.exc_info[1] if record.exc_info else None
            shown.append(f"{record.name} {record.levelname}: {record.getMessage()} {error!r}")
        return shown

    def clear(self) -> None:
        self.records.clear()


@contextmanager
def capture_errors() -> Iterator[ErrorLog]:
    """Collect ERROR and CRITICAL records from every logger while inside."""
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def start_world_on(
    database_url: str,
    start: datetime,
    *,
    clock: FixedClock | None = None,
    limits: Limits | None = None,
    **settings: object,
) -> World:
    """As ``tests.e2e.harness.start_world``, on any database URL and optionally any clock."""
    clock = clock or FixedClock(start)
    sandbox = Sandbox(limits=limits or Limits.off(), monotonic=clock.monotonic, now=clock.now)
    await sandbox.start()
    config = Settings(database_url=database_url, safety_wake_seconds=3600, **settings)  # type: ignore[arg-type]
    daemon = Daemon(config, clock, token=TOKEN, base_url=sandbox.base_url)
    await daemon.start()
    return World(clock, sandbox, daemon)


class LiveWorld:
    """A started world on a private event loop; ``run`` executes coroutines on it."""

    def __init__(self, folder: Path, start: datetime) -> None:
        self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        url = f"sqlite+aiosqlite:///{folder / 'live.db'}"
        self.world = self.run(start_world_on(url, start))

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return self._runner.run(coroutine)

    def close(self) -> None:
        try:
            self.run(stop_world(self.world))
        finally:
            self._runner.close()
