"""A 5 000-recipient broadcast, its sender killed (SIGKILL) halfway and started again: every
recipient gets the message, none is skipped, and none gets it twice beyond the documented
crash window — the one message in flight when the process died (sends are sequential)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session as SyncSession
from sqlmodel import SQLModel, col, create_engine, select

from bot.sandbox.limits import Limits
from bot.sandbox.server import Sandbox
from bot.settings import Settings
from schedules import broadcasts
from schedules.clock import FastClock
from schedules.db import make_engine, session_factory
from schedules.migrate import stamp_if_empty
from schedules.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    Clinic,
    DeliveryStatus,
    Patient,
    PatientStatus,
)
from schedules.segments import Everyone
from tests.e2e.daemon_process import daemon_process

# Its daemon keeps its data in a SQLite file of its own: the Postgres pass skips it.
pytestmark = pytest.mark.own_database

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
# The broadcaster's lease is clock time (2 min): at 100× it lapses 1.2 real seconds after a kill.
SPEED = 100.0
RECIPIENTS = 5_000
FIRST_CHAT = 700_001
NEWS = "Glow Clinic moves to 12 High Street on 1 April. Your aftercare carries on as usual."
# At most the send window is between Telegram and our commit when the kill comes.
IN_FLIGHT = Settings().send_window


class Run:
    def __init__(self, tmp_path: Path, clock: FastClock, epoch: float, sandbox: Sandbox) -> None:
        self.db_file = tmp_path / "resume.db"
        self.log = tmp_path / "daemon.log"
        self.clock = clock
        self.epoch = epoch
        self.sandbox = sandbox
        self.chats = list(range(FIRST_CHAT, FIRST_CHAT + RECIPIENTS))
        self.chat_of: dict[int | None, int] = {}

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
                "AFTERCARE_MESSAGES_PER_SECOND": "1000000",  # the sandbox's limits are off
                "AFTERCARE_CLAIM_LEASE_SECONDS": "1",
                "AFTERCARE_SAFETY_WAKE_SECONDS": "0.5",
                "AFTERCARE_LOG_LEVEL": "WARNING",
            },
        ) as process:
            yield process

    def sends(self) -> int:
        """sendMessage calls the sandbox has answered (duplicates included)."""
        return self.sandbox.stats()["requests"].get("sendMessage", 0)

    def received(self) -> Counter[int]:
        """How many times each recipient's chat shows the broadcast."""
        return Counter(
            {
                chat: sum(m.text == NEWS for m in self.sandbox.bot_messages(chat))
                for chat in self.chats
            }
        )

    def rows(self) -> tuple[Broadcast, list[BroadcastDelivery]]:
        engine = create_engine(f"sqlite:///{self.db_file}")
        try:
            with SyncSession(engine) as session:
                broadcast = session.exec(select(Broadcast)).one()
                deliveries = session.exec(
                    select(BroadcastDelivery).order_by(col(BroadcastDelivery.id))
                ).all()
                return broadcast, list(deliveries)
        finally:
            engine.dispose()

    async def prepare(self) -> int:
        """The clinic, 5 000 active patients and a confirmed broadcast, before any daemon."""
        engine = create_engine(f"sqlite:///{self.db_file}")
        try:
            with engine.begin() as connection:  # the tables, recorded as migrated
                stamp_if_empty(SQLModel.metadata.create_all)(connection)
            with SyncSession(engine) as session:
                clinic = Clinic(slug="clinic", name="Glow Clinic", created_at=START)
                session.add(clinic)
                session.commit()
                session.execute(
                    sa.insert(Patient),
                    [
                        {
                            "chat_id": chat,
                            "clinic_id": clinic.id,
                            "status": PatientStatus.ACTIVE,
                            "created_at": START,
                        }
                        for chat in self.chats
                    ],
                )
                session.commit()
                assert clinic.id is not None
                clinic_id = clinic.id
                ids = session.exec(select(Patient.id, Patient.chat_id)).all()
                self.chat_of = {patient_id: chat for patient_id, chat in ids}
        finally:
            engine.dispose()
        for chat in self.chats:
            self.sandbox.world.user(chat)  # each recipient has opened the bot before
        async_engine = make_engine(f"sqlite+aiosqlite:///{self.db_file}")
        try:
            async with session_factory(async_engine)() as session:
                draft = await broadcasts.create_draft(
                    session, clinic_id=clinic_id, now=START, text=NEWS, segment=Everyone()
                )
                assert draft.id is not None
                count = await broadcasts.confirm(session, draft.id, START)
        finally:
            await async_engine.dispose()
        assert count == RECIPIENTS
        return count


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


async def test_a_broadcast_killed_halfway_resumes_where_it_stopped(run: Run) -> None:
    await run.prepare()
    began = time.monotonic()
    with run.daemon() as first:
        await run.sandbox.wait_for(
            lambda: run.sends() >= RECIPIENTS // 2, timeout=60, what="half the broadcast sent"
        )
        first.send_signal(signal.SIGKILL)
        # Never block the event loop: the sandbox lives in it and must answer the daemon.
        await asyncio.to_thread(first.wait, 30)
        assert first.returncode == -signal.SIGKILL
    before_restart = run.received()
    reached = sum(1 for n in before_restart.values() if n)
    assert RECIPIENTS // 2 <= reached < RECIPIENTS, "killed halfway, not before or after"

    with run.daemon() as second:
        await run.sandbox.wait_for(
            lambda: run.sends() >= RECIPIENTS, timeout=60, what="every recipient sent to"
        )
        broadcast, deliveries = await asyncio.to_thread(run.rows)
        for _ in range(600):  # bounded: the report follows the last send at once
            if broadcast.finished_at is not None:
                break
            await run.sandbox.world.signal.wait(0.05)
            broadcast, deliveries = await asyncio.to_thread(run.rows)
        second.send_signal(signal.SIGTERM)
        await asyncio.to_thread(second.wait, 30)
    took = time.monotonic() - began

    received = run.received()
    missed = [chat for chat in run.chats if received[chat] == 0]
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    assert missed == [], f"{len(missed)} recipients never got the broadcast"
    assert duplicates <= IN_FLIGHT, f"{duplicates} duplicates (took {took:.1f} s)"
    assert broadcast.status == BroadcastStatus.DONE
    assert broadcast.finished_at is not None
    assert len(deliveries) == RECIPIENTS
    assert {d.status for d in deliveries} == {DeliveryStatus.SENT}, "none skipped or failed"
    # Each recorded message id is a message the recipient really has.
    by_chat = {chat: {m.message_id for m in run.sandbox.bot_messages(chat)} for chat in run.chats}
    assert all(d.message_id in by_chat[run.chat_of[d.patient_id]] for d in deliveries)
