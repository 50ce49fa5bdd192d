"""Several daemon processes on one Postgres: one leads (dispatches and polls), the others
stand by. Killed with SIGKILL mid-dispatch, the leader is replaced by a standby within
10 seconds; no reminder is lost and at most the one in flight is sent twice."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.faults import Fault
from bot.sandbox.limits import Limits
from bot.sandbox.server import Sandbox
from messages.render import render_step
from schedules.clock import FastClock
from schedules.db import make_engine
from schedules.models import Reminder, ReminderStatus
from schedules.protocol import bundled_protocol
from tests.dbs import PostgresServer, postgres_template  # noqa: F401
from tests.e2e.daemon_process import daemon_process
from tests.e2e.harness import Person

# They choose their own database, not the e2e worlds': the Postgres pass skips them.
pytestmark = pytest.mark.own_database

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
SPEED = 40_000.0  # a simulated day in about 2.2 real seconds
HORIZON = timedelta(days=3)
TAKEOVER_LIMIT = 10.0  # real seconds, as the operator is promised
PATIENTS = range(3101, 3105)


class Cluster:
    """A sandbox, one Postgres database and any number of daemon processes on them."""

    def __init__(
        self, tmp_path: Path, url: str, sandbox: Sandbox, clock: FastClock, epoch: float
    ) -> None:
        self.epoch = epoch
        self.tmp_path = tmp_path
        self.url = url
        self.sandbox = sandbox
        self.clock = clock

    @contextmanager
    def daemon(self, name: str) -> Iterator[subprocess.Popen[bytes]]:
        with daemon_process(
            api_base_url=self.sandbox.base_url,
            database_url=self.url,
            log=self.log(name),
            speed=SPEED,
            start=START,
            epoch=self.epoch,
            env={"AFTERCARE_LEADER_CHECK_SECONDS": "1", "AFTERCARE_SAFETY_WAKE_SECONDS": "0.5"},
        ) as process:
            yield process

    def log(self, name: str) -> Path:
        return self.tmp_path / f"{name}.log"

    def said(self, name: str, words: str) -> bool:
        path = self.log(name)
        return path.exists() and words in path.read_text(errors="replace")

    def reminder_messages(self) -> list[int | None]:
        """Bot messages whose text is a protocol step's, in every patient's chat."""
        spec = bundled_protocol()
        texts = {render_step(spec, step.id, "en").text for step in spec.steps}
        return [
            m.message_id
            for user_id in PATIENTS
            for m in self.sandbox.bot_messages(user_id)
            if m.text in texts
        ]

    async def reminders(self) -> list[Reminder]:
        engine = make_engine(self.url)
        try:
            async with AsyncSession(engine) as session:
                return list((await session.exec(select(Reminder))).all())
        finally:
            await engine.dispose()

    async def open_due_by(self, moment: datetime) -> int:
        engine = make_engine(self.url)
        try:
            async with AsyncSession(engine) as session:
                rows = await session.exec(
                    select(Reminder).where(
                        col(Reminder.status).in_([ReminderStatus.PENDING, ReminderStatus.CLAIMED]),
                        col(Reminder.due_at) <= moment,
                    )
                )
                return len(rows.all())
        finally:
            await engine.dispose()


async def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``check`` (a log file, not sandbox state) until true, for ``seconds`` at most."""
    try:
        async with asyncio.timeout(seconds):
            while not check():  # noqa: ASYNC110 - a log file offers no event to wait on
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise TimeoutError(f"{what}: still false after {seconds:g} s") from None


@pytest.fixture
async def cluster(tmp_path: Path, postgres_template: PostgresServer) -> AsyncIterator[Cluster]:  # noqa: F811
    epoch = time.time()
    clock = FastClock(START, SPEED, real_epoch=epoch)
    sandbox = Sandbox(limits=Limits.off(), monotonic=clock.monotonic, now=clock.now)
    await sandbox.start()
    try:
        async with postgres_template.database() as url:
            yield Cluster(tmp_path, url, sandbox, clock, epoch)
    finally:
        await sandbox.stop()


async def start_two(cluster: Cluster) -> tuple[list[Person], Callable[[], int]]:
    """(Inside the two daemons' contexts) patients enrolled, reminders flowing, the second
    process standing by; returns the patients and a counter of reminder messages."""
    await until(lambda: cluster.said("first", "leading"), 60, "the first process leads")
    patients = [Person(cluster.sandbox, user_id) for user_id in PATIENTS]
    await asyncio.gather(*(p.enrols(day="Yesterday", at="08:00") for p in patients))
    return patients, lambda: len(cluster.reminder_messages())


async def finish(cluster: Cluster, survivor: subprocess.Popen[bytes]) -> tuple[int, int]:
    """Let the survivor send everything due by the horizon, stop it; (sent, duplicates)."""
    horizon = START + HORIZON
    await until(lambda: cluster.clock.now() > horizon, 60, "the horizon passes")
    for _ in range(600):
        if await cluster.open_due_by(horizon) == 0:
            break
        await asyncio.sleep(0.1)
    survivor.send_signal(signal.SIGTERM)
    await asyncio.to_thread(survivor.wait, 30)
    assert survivor.returncode == 0
    rows = await cluster.reminders()
    due = [r for r in rows if r.due_at <= horizon]
    lost = [r for r in due if r.status in (ReminderStatus.PENDING, ReminderStatus.CLAIMED)]
    assert lost == []
    sent = [r for r in rows if r.status == ReminderStatus.SENT]
    messages = cluster.reminder_messages()
    assert {r.sent_message_id for r in sent} <= set(messages), "a sent reminder is not in a chat"
    assert len([r for r in due if r.status == ReminderStatus.SENT]) >= 20
    return len(sent), len(messages) - len(sent)


async def test_a_standby_takes_over_from_a_killed_leader_within_ten_seconds(
    cluster: Cluster,
) -> None:
    with cluster.daemon("first") as first:
        patients, delivered = await start_two(cluster)
        with cluster.daemon("second") as second:
            await until(lambda: cluster.said("second", "standby"), 60, "the second stands by")
            await cluster.sandbox.wait_for(lambda: delivered() >= 12, timeout=60, what="reminders")
            assert not cluster.said("second", "leading"), "a standby dispatched beside the leader"

            first.send_signal(signal.SIGKILL)
            killed_at, delivered_at_kill = time.monotonic(), delivered()
            await asyncio.to_thread(first.wait, 30)
            await cluster.sandbox.wait_for(
                lambda: delivered() >= delivered_at_kill + 2,
                timeout=TAKEOVER_LIMIT,
                what="reminders from the standby",
            )
            takeover = time.monotonic() - killed_at
            assert cluster.said("second", "leading")
            # The new leader polls too: a patient's message is answered.
            await patients[0].says("/plan", expect="Coming up")
            sent, duplicates = await finish(cluster, second)
    figures = f"takeover {takeover:.2f} s, {sent} sent, {duplicates} duplicate(s)"
    print(f"\nfailover: {figures}")  # noqa: T201
    assert takeover <= TAKEOVER_LIMIT, figures
    assert 0 <= duplicates <= 1, figures


async def test_a_leader_stopped_with_sigterm_releases_its_claims_and_hands_over(
    cluster: Cluster,
) -> None:
    with cluster.daemon("first") as first:
        _, delivered = await start_two(cluster)
        with cluster.daemon("second") as second:
            await until(lambda: cluster.said("second", "standby"), 60, "the second stands by")
            await cluster.sandbox.wait_for(lambda: delivered() >= 12, timeout=60, what="reminders")
            first.send_signal(signal.SIGTERM)
            await asyncio.to_thread(first.wait, 30)
            assert first.returncode == 0
            assert cluster.said("first", "stopped claiming; released")
            await until(lambda: cluster.said("second", "leading"), TAKEOVER_LIMIT, "handover")
            _, duplicates = await finish(cluster, second)
    assert duplicates == 0, "a graceful stop doubles nothing"


async def kill_the_lock_connection(url: str) -> int:
    """Terminate only the session holding an advisory lock (the leader's lock connection, as a
    pgbouncer restart or an administrator might), and wait until it has gone."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            killed = await connection.scalar(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        return int(killed or 0)
    finally:
        await engine.dispose()


async def test_a_leader_that_loses_only_its_lock_stops_and_nothing_is_sent_twice(
    cluster: Cluster,
) -> None:
    """The leader lives on, its other connections fine: the standby takes the lock at once,
    but adopts the old leader's claims only after it has had time to notice and stop."""
    with cluster.daemon("first") as first:
        _, delivered = await start_two(cluster)
        with cluster.daemon("second") as second:
            await until(lambda: cluster.said("second", "standby"), 60, "the second stands by")
            await cluster.sandbox.wait_for(lambda: delivered() >= 12, timeout=60, what="reminders")
            # Slow answers: the leader's pass is still sending its batch when the lock goes.
            slow = cluster.sandbox.faults.add(Fault("sendMessage", "delay", count=None, delay=0.4))
            await cluster.sandbox.wait_for(lambda: slow.fired >= 1, timeout=30, what="a slow send")
            assert await kill_the_lock_connection(cluster.url) == 1
            await until(lambda: cluster.said("first", "lost the dispatch lead"), 10, "step down")
            await until(lambda: cluster.said("second", "leading"), TAKEOVER_LIMIT, "takeover")
            cluster.sandbox.faults.clear()
            first.send_signal(signal.SIGTERM)
            await asyncio.to_thread(first.wait, 30)
            sent, duplicates = await finish(cluster, second)
    assert duplicates == 0, f"{sent} sent, {duplicates} duplicate(s)"
