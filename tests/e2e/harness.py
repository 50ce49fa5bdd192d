"""A world for end-to-end tests: the sandbox, the real daemon (PTB over HTTP), a real SQLite
file and a fixed clock that only the test moves."""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import col, select

from bot.daemon import Daemon
from bot.sandbox.limits import Limits
from bot.sandbox.model import TranscriptEntry
from bot.sandbox.server import Sandbox
from bot.settings import Settings
from schedules.clock import FixedClock
from schedules.dispatcher import DispatchReport
from schedules.models import Patient, Reminder, ReminderStatus
from tests.dbs import BACKENDS, PostgresServer, sqlite_with_schema

TOKEN = "123456:TEST-TOKEN-for-the-sandbox"


class Person:
    """One Telegram user acting in the sandbox; every action waits for the bot's answer."""

    def __init__(
        self, sandbox: Sandbox, user_id: int, language_code: str = "en", first_name: str = "Pat"
    ) -> None:
        self.sandbox = sandbox
        self.user_id = user_id
        self.language_code = language_code
        self.first_name = first_name

    def bot_texts(self) -> list[str]:
        return [e.text or "" for e in self.sandbox.bot_messages(self.user_id)]

    async def says(self, text: str, expect: str | None = None) -> TranscriptEntry:
        """Write ``text``; return the bot's answer (the first new message containing ``expect``)."""
        before = len(self.sandbox.bot_messages(self.user_id))
        self.sandbox.user_sends_text(
            self.user_id, text, language_code=self.language_code, first_name=self.first_name
        )
        return await self._answer(before, expect)

    async def presses(self, label: str, expect: str | None = None) -> TranscriptEntry:
        """Press the newest button labelled ``label``; return the bot's answer, as ``says``."""
        before = len(self.sandbox.bot_messages(self.user_id))
        self.sandbox.user_presses_button(self.user_id, label=label)
        return await self._answer(before, expect)

    async def _answer(self, before: int, expect: str | None) -> TranscriptEntry:
        # Reminders may arrive at any moment, so "the next message" is not enough:
        # wait for a new message with the expected words.
        def answered() -> TranscriptEntry | None:
            for entry in self.sandbox.bot_messages(self.user_id)[before:]:
                if expect is None or expect in (entry.text or ""):
                    return entry
            return None

        await self.sandbox.wait_for(
            lambda: answered() is not None, timeout=15, what=f"a reply with {expect!r}"
        )
        found = answered()
        assert found is not None
        return found

    async def enrols(
        self,
        place: str = "Europe/London",
        day: str = "Yesterday",
        at: str = "14:00",
        start: str = "/start",
    ) -> None:
        await self.says(start, expect="Which language")
        await self.presses("English", expect="not a doctor")
        await self.presses("I understand", expect="Where are you")
        await self.says(place, expect="Is that right")
        await self.presses("Yes, that's right", expect="When was your treatment")
        await self.presses(day, expect="what time")
        await self.presses(at, expect="Next:")


@dataclass
class World:
    clock: FixedClock
    sandbox: Sandbox
    daemon: Daemon
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)  # e.g. its database

    def person(
        self, user_id: int = 1001, language_code: str = "en", first_name: str = "Pat"
    ) -> Person:
        return Person(self.sandbox, user_id, language_code, first_name)

    async def handlers_idle(self) -> None:
        """Wait until every update the bot has fetched is fully handled: a handler answers
        the patient first and records afterwards, so its answer is not the end of it."""
        app = self.daemon.application
        assert app is not None
        # PTB marks each update done once its handlers return: join() is exactly "idle".
        async with asyncio.timeout(15):
            await app.update_queue.join()

    async def settle(self) -> DispatchReport:
        """Let the handlers and then the dispatcher finish whatever is due right now."""
        await self.handlers_idle()
        return await self.daemon.dispatch_now()

    async def advance_to_next_due(self) -> DispatchReport:
        due = await self.daemon.dispatcher.next_due_at() if self.daemon.dispatcher else None
        assert due is not None, "nothing is planned"
        return await self.advance_to(due)

    async def live_until(self, moment: datetime, step: timedelta = timedelta(minutes=30)) -> None:
        """Let time pass in steps, the dispatcher running after each, as a live daemon would."""
        while self.clock.now() < moment:
            await self.advance_to(min(self.clock.now() + step, moment))

    async def advance(self, delta: timedelta) -> DispatchReport:
        """Move time forward and let the dispatcher do what is due by then."""
        self.clock.advance(delta)
        return await self.settle()

    async def advance_to(self, moment: datetime) -> DispatchReport:
        if moment > self.clock.now():
            self.clock.set(moment)
        return await self.settle()

    async def patient(self, chat_id: int) -> Patient:
        async with self.daemon.sessions() as session:
            found = (await session.exec(select(Patient).where(Patient.chat_id == chat_id))).one()
            return found

    async def reminders(self, chat_id: int, *statuses: ReminderStatus) -> list[Reminder]:
        patient = await self.patient(chat_id)
        async with self.daemon.sessions() as session:
            query = select(Reminder).where(Reminder.patient_id == patient.id)
            if statuses:
                query = query.where(col(Reminder.status).in_(statuses))
            rows = await session.exec(query.order_by(col(Reminder.due_at)))
            return list(rows.all())


# Which database the in-process worlds use: "sqlite" (a file in tmp_path, the default) or
# "postgres" (a fresh clone of the session's template per world; see tests/dbs.py).
DATABASE_VARIABLE = "AFTERCARE_E2E_DATABASE"


def e2e_database() -> str:
    chosen = os.environ.get(DATABASE_VARIABLE, "sqlite").strip().lower() or "sqlite"
    if chosen not in BACKENDS:
        raise ValueError(f"{DATABASE_VARIABLE} must be one of {BACKENDS}, not {chosen!r}")
    return chosen


class PostgresWorlds:
    """The session's Postgres template, set by ``tests/e2e/conftest.py`` when chosen."""

    server: PostgresServer | None = None


async def _database_for(tmp_path: Path, resources: AsyncExitStack) -> str:
    if PostgresWorlds.server is None:
        return await sqlite_with_schema(tmp_path / "e2e.db")
    return await resources.enter_async_context(PostgresWorlds.server.database())


async def start_world(
    tmp_path: Path,
    start: datetime,
    limits: Limits | None = None,
    database_url: str | None = None,
    **settings: object,
) -> World:
    """The sandbox and a started daemon; ``settings`` override ``AFTERCARE_*`` values.

    The database is ``database_url``, else SQLite in ``tmp_path``, or a fresh Postgres
    database when the run asks for it (``AFTERCARE_E2E_DATABASE=postgres``)."""
    clock = FixedClock(start)
    resources = AsyncExitStack()
    sandbox = Sandbox(limits=limits or Limits.off(), monotonic=clock.monotonic, now=clock.now)
    await sandbox.start()
    config = Settings(
        database_url=database_url or await _database_for(tmp_path, resources),
        safety_wake_seconds=3600,
        spool_dir=tmp_path / "spool",
        **settings,  # type: ignore[arg-type]
    )
    daemon = Daemon(config, clock, token=TOKEN, base_url=sandbox.base_url)
    await daemon.start()
    return World(clock, sandbox, daemon, resources)


async def restart_daemon(world: World) -> None:
    """Stop the daemon and start a new one on the same database, sandbox and clock."""
    settings = world.daemon.settings
    await world.daemon.stop()
    world.daemon = Daemon(settings, world.clock, token=TOKEN, base_url=world.sandbox.base_url)
    await world.daemon.start()


async def stop_world(world: World) -> None:
    await world.daemon.stop()
    await world.sandbox.stop()
    await world.resources.aclose()
