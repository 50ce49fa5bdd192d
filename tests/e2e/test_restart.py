"""The daemon as a real process: stopped or killed mid-journey and started again on the
same SQLite file, it loses no reminder and doubles none (or, killed, at most the one in flight)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session as SyncSession
from sqlmodel import col, create_engine, select

from bot.sandbox.limits import Limits
from bot.sandbox.server import Sandbox
from messages.render import render_step
from schedules.clock import FastClock
from schedules.models import Reminder, ReminderStatus
from schedules.protocol import bundled_protocol
from tests.e2e.daemon_process import daemon_process
from tests.e2e.harness import Person

# They choose their own database, not the e2e worlds': the Postgres pass skips them.
pytestmark = pytest.mark.own_database

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
SPEED = 40_000.0  # a simulated day passes in about 2.2 real seconds
HORIZON = timedelta(days=3)


class Run:
    def __init__(self, tmp_path: Path, clock: FastClock, epoch: float, sandbox: Sandbox) -> None:
        self.db_file = tmp_path / "restart.db"
        self.log = tmp_path / "daemon.log"
        self.clock = clock
        self.epoch = epoch
        self.sandbox = sandbox

    @contextmanager
    def daemon(self) -> Iterator[subprocess.Popen[bytes]]:
        with daemon_process(
            api_base_url=self.sandbox.base_url,
            db_file=self.db_file,
            log=self.log,
            speed=SPEED,
            start=START,
            epoch=self.epoch,
            env={
                "AFTERCARE_CLAIM_LEASE_SECONDS": "1",  # real seconds; a killed claim comes back fast
                "AFTERCARE_SAFETY_WAKE_SECONDS": "0.5",
            },
        ) as process:
            yield process

    def sent_rows(self) -> list[Reminder]:
        engine = create_engine(f"sqlite:///{self.db_file}")
        try:
            with SyncSession(engine) as session:
                rows = session.exec(select(Reminder).where(Reminder.status == ReminderStatus.SENT))
                return list(rows.all())
        finally:
            engine.dispose()

    def starts(self) -> int:
        """How many daemon processes have started (and logged so) on this run's log."""
        return self.log.read_text(errors="replace").count("daemon started")

    def claimed_rows(self) -> int:
        engine = create_engine(f"sqlite:///{self.db_file}")
        try:
            with SyncSession(engine) as session:
                rows = session.exec(
                    select(Reminder).where(Reminder.status == ReminderStatus.CLAIMED)
                )
                return len(rows.all())
        finally:
            engine.dispose()

    def open_rows_due_by(self, moment: datetime) -> int:
        engine = create_engine(f"sqlite:///{self.db_file}")
        try:
            with SyncSession(engine) as session:
                rows = session.exec(
                    select(Reminder).where(
                        col(Reminder.status).in_([ReminderStatus.PENDING, ReminderStatus.CLAIMED])
                    )
                )
                return sum(1 for r in rows.all() if r.due_at <= moment)
        finally:
            engine.dispose()


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Run]:
    epoch = time.time()
    clock = FastClock(START, SPEED, real_epoch=epoch)
    sandbox = Sandbox(limits=Limits.off(), monotonic=clock.monotonic, now=clock.now)
    await sandbox.start()
    try:
        yield Run(tmp_path, clock, epoch, sandbox)
    finally:
        await sandbox.stop()


def reminder_messages(run: Run, user_id: int) -> list[int | None]:
    """Bot messages whose text is a protocol step's: reminders, including any duplicate."""
    spec = bundled_protocol()
    texts = {render_step(spec, step.id, "en").text for step in spec.steps}
    return [m.message_id for m in run.sandbox.bot_messages(user_id) if m.text in texts]


async def journey_with_interruption(run: Run, interrupt: signal.Signals) -> tuple[int, int]:
    pat = Person(run.sandbox, 2002)
    with run.daemon() as first:
        # "Yesterday": at 40 000× the simulated day may turn while enrolling, and "earlier
        # today at 08:00" would then lie in the future.
        await pat.enrols(place="Europe/London", day="Yesterday", at="08:00")
        await run.sandbox.wait_for(
            lambda: len(reminder_messages(run, pat.user_id)) >= 5, timeout=60, what="5 reminders"
        )
        first.send_signal(interrupt)
        # Never block the event loop: the sandbox lives in it and must answer the daemon.
        await asyncio.to_thread(first.wait, 30)
        assert first.returncode == (0 if interrupt == signal.SIGTERM else -signal.SIGKILL)
        if interrupt == signal.SIGTERM:
            assert run.claimed_rows() == 0, "a graceful stop releases its claims"
    delivered_before_restart = len(reminder_messages(run, pat.user_id))
    with run.daemon() as second:
        # Two simulated days past the second process's start at least: on a loaded machine
        # the kill and the start may come late (a simulated day is 2 s), and the second
        # process must still have days of reminders to carry on with.
        await run.sandbox.wait_for(lambda: run.starts() >= 2, timeout=60, what="a second start")
        horizon = max(START + HORIZON, run.clock.now() + timedelta(days=2))
        await run.sandbox.wait_for(
            lambda: run.clock.now() > horizon and run.open_rows_due_by(horizon) == 0,
            timeout=90,
            what="every reminder due in the first three days",
        )
        second.send_signal(signal.SIGTERM)
        await asyncio.to_thread(second.wait, 30)
    sent = [r for r in run.sent_rows() if r.due_at <= horizon]
    messages = [m for m in reminder_messages(run, pat.user_id)]
    sent_ids = {r.sent_message_id for r in sent}
    assert sent_ids <= set(messages), "every reminder marked sent reached the chat"
    assert len(sent) >= delivered_before_restart + 3, "the second process carried on"
    return len(sent), len(messages) - len(run.sent_rows())


async def test_a_restarted_daemon_loses_nothing_and_doubles_nothing(run: Run) -> None:
    sent, duplicates = await journey_with_interruption(run, signal.SIGTERM)
    assert sent >= 10
    assert duplicates == 0


async def test_a_killed_daemon_doubles_at_most_the_message_in_flight(run: Run) -> None:
    sent, duplicates = await journey_with_interruption(run, signal.SIGKILL)
    assert sent >= 10
    assert 0 <= duplicates <= 1
