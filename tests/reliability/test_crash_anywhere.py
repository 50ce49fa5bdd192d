"""Crash anywhere: a busy schedule, the daemon SIGKILLed at random moments and restarted.

Fifty patients across twenty timezones are enrolled straight into the database with the
real planner and outbox (``set_treatment`` + ``replan_patient``), treated one after another
over the run, so that reminders fall due all the time. The daemon runs as a real process on
a fast clock shared by every run (one ``start`` and ``epoch``); each time it is killed at a
moment drawn from a seeded RNG (after a random number of sends, then a random few
milliseconds), and started again at once. Afterwards the sandbox's chats are held against
the outbox:

* nothing lost: every reminder due by the horizon is SENT, and the message id it records is
  a message in the patient's chat with that step's text;
* duplicates only from the crash window: a chat holds more messages than SENT rows only by
  messages in flight at a kill (sent, not yet recorded), and there are at most as many of
  them as kills (promise 1 in DESIGN.md). The counts are printed.

The default run kills 20 times (about 40 seconds); the 60-kill variant is ``slow``
(``AFTERCARE_SLOW_TESTS=1``).
The helpers here are shared with ``test_database_trouble.py`` (the same audit on Postgres).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.sandbox.limits import Limits
from bot.sandbox.server import Sandbox
from messages.render import render_step
from schedules.catalog import ProtocolCatalog
from schedules.clock import FastClock, FixedClock
from schedules.db import create_schema, make_engine, session_factory
from schedules.dispatcher import DispatchConfig
from schedules.models import Patient, PatientStatus, Reminder, ReminderStatus
from schedules.plans import replan_patient, set_treatment
from schedules.protocol import bundled_protocol
from tests.e2e.daemon_process import daemon_process

START = datetime(2026, 3, 27, 6, 0, tzinfo=UTC)  # a Friday; DST starts in Europe on Sunday
# One real second is 10 simulated minutes. Treatments fall between 09:00 and 13:00 local, so
# every message is due before 16:00 local, five hours clear of quiet hours (21:00) and of the
# shortest lateness grace of the steps that can come due (6 h): only a daemon held up for 30
# real seconds (a restart takes 1-4, plus the 1 s claim lease) could turn a reminder stale,
# so every due reminder must be SENT, even on a loaded machine.
SPEED = 600.0
ZONES = (
    "Pacific/Auckland",
    "Australia/Sydney",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Asia/Bangkok",
    "Asia/Dhaka",
    "Asia/Kolkata",
    "Asia/Karachi",
    "Asia/Dubai",
    "Europe/Moscow",
    "Europe/Athens",
    "Europe/Berlin",
    "Europe/London",
    "Atlantic/Azores",
    "America/Sao_Paulo",
    "America/Halifax",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
)
FIRST_CHAT = 700_001
DAEMON_ENV = {
    "AFTERCARE_CLAIM_LEASE_SECONDS": "1",  # real seconds: a killed claim comes back fast
    "AFTERCARE_SAFETY_WAKE_SECONDS": "0.5",
}


# -- the schedule -----------------------------------------------------------------------------


def treatment_time(moment: datetime, rng: random.Random) -> tuple[datetime, str]:
    """``moment`` and a timezone where it falls between 09:00 and 13:00 local."""
    fitting = [z for z in ZONES if 9 <= moment.astimezone(ZoneInfo(z)).hour < 13]
    assert fitting, f"no zone has {moment:%H:%M} UTC in the local late morning"
    return moment, rng.choice(fitting)


async def enrol_busy_schedule(
    url: str, sandbox: Sandbox, rng: random.Random, *, patients: int, span: timedelta
) -> list[int]:
    """Create the schema (if missing) and ``patients`` active patients, treated one after
    another from 10 simulated minutes after START over ``span``, each planned by the real
    planner into the outbox; their chat ids (each a sandbox user who has met the bot)."""
    engine = make_engine(url)
    try:
        await create_schema(engine)
        sessions = session_factory(engine)
        clock = FixedClock(START)
        catalog = ProtocolCatalog(sessions, clock)
        protocol = await catalog.publish(bundled_protocol())
        assert protocol.id is not None
        chats = []
        async with sessions() as session:
            for number in range(patients):
                offset = timedelta(minutes=10) + span * number / max(patients - 1, 1)
                treated_at, zone = treatment_time(START + offset, rng)
                chat_id = FIRST_CHAT + number
                patient = Patient(
                    chat_id=chat_id,
                    timezone=zone,
                    status=PatientStatus.ACTIVE,
                    consent_at=START,
                    created_at=START,
                )
                session.add(patient)
                await session.flush()
                await set_treatment(session, patient, treated_at, protocol.id, START)
                change = await replan_patient(session, patient, catalog, now=START)
                assert change.added > 0
                sandbox.world.user(chat_id)  # the patient has opened the chat with the bot
                chats.append(chat_id)
            await session.commit()
        return chats
    finally:
        await engine.dispose()


async def outbox(url: str) -> list[Reminder]:
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.exec(select(Reminder).order_by(col(Reminder.id)))
            return list(rows.all())
    finally:
        await engine.dispose()


async def chat_of_patients(url: str) -> dict[int, int]:
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            patients = (await session.exec(select(Patient))).all()
            return {p.id: p.chat_id for p in patients if p.id is not None}
    finally:
        await engine.dispose()


def open_due_by(rows: list[Reminder], moment: datetime) -> int:
    """Rows still to be sent (pending or claimed) that were due by ``moment``."""
    waiting = {ReminderStatus.PENDING, ReminderStatus.CLAIMED}
    return sum(1 for r in rows if r.status in waiting and r.due_at <= moment)


async def wait_until(
    sandbox: Sandbox,
    check: Callable[[], Awaitable[bool]],
    *,
    timeout: float,  # noqa: ASYNC109 - a deadline is this helper's point
    what: str,
) -> None:
    """Re-check an async condition (a database read) after each sandbox change, or every
    0.25 s (the daemon's commit comes just after the send the sandbox saw)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError(f"{what} still false after {timeout:g} s")
        await sandbox.world.signal.wait(0.25)


# -- the audit --------------------------------------------------------------------------------


@dataclass
class Audit:
    """The sandbox's chats held against the outbox."""

    sent: int = 0
    due_by_horizon: int = 0
    lost: list[int] = field(default_factory=list)  # reminder ids due, not SENT
    unmatched: list[int] = field(default_factory=list)  # SENT, but no such message/text
    messages: int = 0
    duplicates: int = 0  # messages beyond the SENT rows, each a re-send of a SENT step
    duplicate_dates: list[datetime] = field(default_factory=list)  # on the sandbox's clock
    strangers: int = 0  # messages that are no SENT reminder's step text in that chat
    # Messages of rows a killed process had started sending that the next one put off
    # (quiet hours, a retry) past the horizon: pending, marked, to be sent again.
    awaiting: int = 0
    failed: int = 0
    skipped: int = 0
    by_status: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"due by horizon {self.due_by_horizon}, sent {self.sent}, lost {len(self.lost)},"
            f" messages {self.messages}, duplicates {self.duplicates},"
            f" unmatched {len(self.unmatched)}, strangers {self.strangers},"
            f" awaiting a re-send {self.awaiting},"
            f" statuses {dict(self.by_status)}"
        )


def audit(
    sandbox: Sandbox, rows: list[Reminder], chat_of: dict[int, int], horizon: datetime
) -> Audit:
    spec = bundled_protocol()
    text_of = {step.id: render_step(spec, step.id, "en").text for step in spec.steps}
    result = Audit(by_status=Counter(ReminderStatus(r.status).value for r in rows))
    sent_by_chat: dict[int, list[Reminder]] = {}
    started_by_chat: dict[int, set[str]] = {}  # step texts of pending rows marked as sending
    for row in rows:
        if row.status == ReminderStatus.PENDING and row.send_started_at is not None:
            started_by_chat.setdefault(chat_of[row.patient_id], set()).add(text_of[row.step_id])
        if row.due_at <= horizon:
            result.due_by_horizon += 1
            if row.status != ReminderStatus.SENT:
                assert row.id is not None
                result.lost.append(row.id)
        if row.status == ReminderStatus.SENT:
            sent_by_chat.setdefault(chat_of[row.patient_id], []).append(row)
    result.sent = sum(len(v) for v in sent_by_chat.values())
    result.failed = result.by_status[ReminderStatus.FAILED.value]
    result.skipped = result.by_status[ReminderStatus.SKIPPED.value]
    for chat_id in sorted(set(chat_of.values())):
        entries = sandbox.bot_messages(chat_id)
        messages = {m.message_id: m.text for m in entries}
        dates = {m.message_id: m.date for m in entries}
        sent = sent_by_chat.get(chat_id, [])
        result.messages += len(messages)
        for row in sent:
            if messages.get(row.sent_message_id) != text_of[row.step_id]:
                assert row.id is not None
                result.unmatched.append(row.id)
        recorded = {row.sent_message_id for row in sent}
        sent_texts = {text_of[row.step_id] for row in sent}
        for message_id, text in messages.items():
            if message_id in recorded:
                continue
            if text in sent_texts:
                result.duplicates += 1
                result.duplicate_dates.append(dates[message_id])
            elif text in started_by_chat.get(chat_id, set()):
                result.awaiting += 1
            else:
                result.strangers += 1
    return result


# -- the run ----------------------------------------------------------------------------------


class CrashRun:
    """The sandbox on the shared fast clock, and the daemon started (and killed) on ``url``."""

    def __init__(self, tmp_path: Path, sandbox: Sandbox, clock: FastClock, epoch: float) -> None:
        self.url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
        self.log = tmp_path / "daemon.log"
        self.sandbox = sandbox
        self.clock = clock
        self.epoch = epoch

    @contextmanager
    def daemon(self) -> Iterator[subprocess.Popen[bytes]]:
        with daemon_process(
            api_base_url=self.sandbox.base_url,
            database_url=self.url,
            log=self.log,
            speed=SPEED,
            start=START,
            epoch=self.epoch,
            env=DAEMON_ENV,
        ) as process:
            yield process

    def sends(self) -> int:
        return self.sandbox.stats()["requests"].get("sendMessage", 0)


@pytest.fixture
async def crash_run(tmp_path: Path) -> AsyncIterator[CrashRun]:
    epoch = time.time()
    clock = FastClock(START, SPEED, real_epoch=epoch)
    sandbox = Sandbox(limits=Limits.off(), monotonic=clock.monotonic, now=clock.now)
    await sandbox.start()
    try:
        yield CrashRun(tmp_path, sandbox, clock, epoch)
    finally:
        await sandbox.stop()


async def kill_at_a_random_moment(
    run: CrashRun, process: subprocess.Popen[bytes], rng: random.Random
) -> None:
    """Let the daemon make 1-6 more sends (or 20 s pass: a lull, or a slow start), then a
    random 0-40 ms more, then SIGKILL it and reap it."""
    before, more = run.sends(), rng.randint(1, 6)
    with contextlib.suppress(TimeoutError):  # a quiet moment is a moment too
        await run.sandbox.wait_for(
            lambda: run.sends() >= before + more or process.poll() is not None,
            timeout=20,
            what=f"{more} more sends",
        )
    assert process.poll() is None, f"the daemon died by itself; see {run.log}"
    await asyncio.sleep(rng.uniform(0.0, 0.04))  # a random instant inside the flow
    process.send_signal(signal.SIGKILL)
    # Never block the event loop: the sandbox lives in it and must answer the daemon.
    await asyncio.to_thread(process.wait, 30)
    assert process.returncode == -signal.SIGKILL


@dataclass
class CrashReport:
    audit: Audit
    kills: list[datetime]  # the moments of the kills, on the shared clock

    def duplicates_per_kill(self) -> list[int]:
        """Each duplicate charged to the first kill after its first copy went out."""
        counts = [0] * len(self.kills)
        for date in self.audit.duplicate_dates:
            index = next(i for i, kill in enumerate(self.kills) if kill >= date)
            counts[index] += 1
        return counts


async def crash_anywhere(run: CrashRun, *, kills: int, patients: int, seed: int) -> CrashReport:
    rng = random.Random(seed)
    # A kill cycle takes 1-4 real seconds, 10-40 simulated minutes: treatments spread over
    # a quarter of an hour per kill keep reminders falling due (three per patient in its
    # first three hours) through every cycle, and often several at once.
    span = timedelta(minutes=15 * kills)
    chats = await enrol_busy_schedule(run.url, run.sandbox, rng, patients=patients, span=span)
    moments = []
    for _ in range(kills):
        with run.daemon() as process:
            await kill_at_a_random_moment(run, process, rng)
        moments.append(run.clock.now())
    # What the last run must catch up on, and at least every patient's day-0 reminders.
    horizon = max(moments[-1] + timedelta(minutes=30), START + span + timedelta(hours=1))

    async def all_due_sent() -> bool:
        return run.clock.now() > horizon and open_due_by(await outbox(run.url), horizon) == 0

    with run.daemon() as last:
        await wait_until(run.sandbox, all_due_sent, timeout=120, what="every reminder due sent")
        last.send_signal(signal.SIGTERM)
        await asyncio.to_thread(last.wait, 30)
        assert last.returncode == 0, f"the daemon did not stop cleanly; see {run.log}"
    result = audit(run.sandbox, await outbox(run.url), await chat_of_patients(run.url), horizon)
    report = CrashReport(result, moments)
    print(  # noqa: T201
        f"\ncrash anywhere: {kills} SIGKILLs, {len(chats)} patients, {run.sends()} sendMessage"
        f" calls, horizon +{horizon - START}; {result.line()};"
        f" duplicates per kill {report.duplicates_per_kill()}"
    )
    return report


# Patients' runs wait side by side, but at most this many sends are answered by Telegram and
# not yet recorded at any moment (the default: one). That is the crash window.
IN_FLIGHT = DispatchConfig(worker="-").window


def assert_nothing_lost_and_duplicates_within_the_crash_window(report: CrashReport) -> None:
    result = report.audit
    assert result.due_by_horizon >= 60, "the schedule was busy"
    assert result.lost == [], "every reminder due by the horizon was SENT"
    assert result.unmatched == [], "each SENT row's message is in its chat, with its step's text"
    assert result.strangers == 0, "every message in the chats is a reminder's"
    assert result.failed == 0
    assert max(report.duplicates_per_kill()) <= IN_FLIGHT, "only sends in flight at a kill"


async def test_killed_twenty_times_a_busy_daemon_loses_nothing(crash_run: CrashRun) -> None:
    report = await crash_anywhere(crash_run, kills=20, patients=50, seed=20)
    assert_nothing_lost_and_duplicates_within_the_crash_window(report)


@pytest.mark.slow
async def test_killed_sixty_times_a_busy_daemon_loses_nothing(crash_run: CrashRun) -> None:
    report = await crash_anywhere(crash_run, kills=60, patients=60, seed=60)
    assert_nothing_lost_and_duplicates_within_the_crash_window(report)


# -- the promise of one duplicate per crash ------------------------------------------------------


@contextmanager
def write_lock(db_file: Path) -> Iterator[sqlite3.Connection]:
    """Hold SQLite's write lock (a slow disk, a long transaction elsewhere): the daemon can
    still read and send, but each commit waits. Taken with ``lock.execute("BEGIN IMMEDIATE")``
    (in a thread: it waits for a commit in progress); released on leaving."""
    connection = sqlite3.connect(db_file, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        yield connection
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()


def unrecorded(run: CrashRun, db_file: Path, chats: list[int]) -> int:
    """Messages in the chats beyond the rows marked SENT: sent, not (yet) recorded."""
    messages = sum(len(run.sandbox.bot_messages(chat)) for chat in chats)
    with closing(sqlite3.connect(db_file, timeout=30)) as connection:
        (sent,) = connection.execute(
            "SELECT count(*) FROM reminder WHERE status = ?", (ReminderStatus.SENT.value,)
        ).fetchone()
    return messages - int(sent)


async def test_one_kill_sends_at_most_the_send_window_twice(
    crash_run: CrashRun, tmp_path: Path
) -> None:
    run, db_file = crash_run, tmp_path / "crash.db"
    rng = random.Random(1)
    # Thirty patients treated at the same moment: a burst of 60+ reminders due at once.
    chats = await enrol_busy_schedule(run.url, run.sandbox, rng, patients=30, span=timedelta())
    with write_lock(db_file) as lock, run.daemon() as process:
        await run.sandbox.wait_for(lambda: run.sends() >= 1, timeout=30, what="the first send")
        await asyncio.to_thread(lock.execute, "BEGIN IMMEDIATE")
        # Thirty patients' runs are ready to send; the commits wait. Wait long enough for
        # more than the crash window of sends to go out unrecorded, if they could.
        with contextlib.suppress(TimeoutError):
            await run.sandbox.wait_for(
                lambda: unrecorded(run, db_file, chats) > IN_FLIGHT, timeout=3
            )
        in_flight = unrecorded(run, db_file, chats)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
    horizon = run.clock.now() + timedelta(minutes=30)

    async def all_due_sent() -> bool:
        return run.clock.now() > horizon and open_due_by(await outbox(run.url), horizon) == 0

    with run.daemon() as second:
        await wait_until(run.sandbox, all_due_sent, timeout=60, what="every reminder due sent")
        second.send_signal(signal.SIGTERM)
        await asyncio.to_thread(second.wait, 30)
    result = audit(run.sandbox, await outbox(run.url), await chat_of_patients(run.url), horizon)
    print(f"\none kill: {in_flight} sends unrecorded at the kill; {result.line()}")  # noqa: T201
    assert result.lost == []
    assert result.unmatched == []
    assert result.strangers == 0
    # Each send is noted before it goes (a write), so the lock stops new ones: those already
    # past that point are out, at most the window.
    assert 1 <= in_flight <= IN_FLIGHT, "the sends answered and waiting for their record"
    assert result.duplicates == in_flight, "exactly the unrecorded sends were repeated"
