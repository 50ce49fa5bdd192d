"""Staff broadcasts end to end: compose in the chat, preview, send, watch the progress message
become the report; stopped and blocked patients get nothing; cancel stops the rest; reminders
keep going out while a broadcast is sending."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select
from telegram import Bot

from bot.broadcasting import BroadcastConfig, Broadcaster
from bot.pacing import Pacer
from bot.sandbox.model import TranscriptEntry
from bot.sender import TelegramSender
from schedules import broadcasts
from schedules.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    DeliveryStatus,
    Patient,
    PatientStatus,
    Reminder,
    ReminderStatus,
)
from schedules.outbound import Edit, Outbound, SendOutcome
from schedules.segments import Everyone
from tests.e2e.harness import TOKEN, Person, World, start_world, stop_world

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
CODE = "let-me-in-42"
NURSE = 9001
NEWS = "We're closed on Monday for training. Your reminders carry on as usual."


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START, clinic_name="Glow Clinic", staff_code=CODE)
    try:
        yield started
    finally:
        await stop_world(started)


async def staff_joins(world: World) -> Person:
    nurse = world.person(NURSE)
    await nurse.says(f"/staff {CODE}", expect="You're now staff at Glow Clinic")
    return nurse


async def patients_added(world: World, count: int, first_chat: int = 500_001) -> list[int]:
    """Active patients of the clinic written straight to the database, each with a chat."""
    assert world.daemon.clinic is not None
    chats = list(range(first_chat, first_chat + count))
    async with world.daemon.sessions() as session:
        session.add_all(
            Patient(
                chat_id=chat,
                clinic_id=world.daemon.clinic.id,
                status=PatientStatus.ACTIVE,
                created_at=START,
            )
            for chat in chats
        )
        await session.commit()
    for chat in chats:
        world.sandbox.world.user(chat)  # the user has opened the bot before
    return chats


def got(world: World, chat_id: int, text: str = NEWS) -> int:
    """How many times the chat received the broadcast."""
    return sum(1 for m in world.sandbox.bot_messages(chat_id) if m.text == text)


def message(world: World, chat_id: int, message_id: int | None) -> TranscriptEntry:
    [found] = [m for m in world.sandbox.bot_messages(chat_id) if m.message_id == message_id]
    return found


async def composes(world: World, nurse: Person, audience: str = "All active patients") -> str:
    """/broadcast, the message, the audience: returns the question under the preview."""
    await nurse.says("/broadcast", expect="Send me the message")
    await nurse.says(NEWS, expect="Who should receive it?")
    question = await nurse.presses(audience, expect="Send it now?")
    return question.text or ""


async def sends(world: World, nurse: Person, label: str) -> TranscriptEntry:
    """Press Send; returns the live progress message."""
    return await nurse.presses(label, expect="📣 Broadcast #")


async def report(world: World, nurse: Person, progress: TranscriptEntry, starts: str) -> str:
    await world.sandbox.wait_for(
        lambda: (message(world, NURSE, progress.message_id).text or "").startswith(starts),
        timeout=15,
        what=f"the progress message to read {starts!r}",
    )
    return message(world, NURSE, progress.message_id).text or ""


async def the_broadcast(world: World) -> Broadcast:
    async with world.daemon.sessions() as session:
        return (await session.exec(select(Broadcast).order_by(col(Broadcast.id).desc()))).first()  # type: ignore[return-value]


async def test_staff_compose_preview_and_send_once_to_every_active_patient(
    world: World,
) -> None:
    nurse = await staff_joins(world)
    ana, ben, cleo = world.person(1001), world.person(1002), world.person(1003)
    for person in (ana, ben, cleo):
        await person.enrols()
    await cleo.says("/stop", expect="Stop all reminders")
    await cleo.presses("Yes, stop", expect="Stopped")
    world.sandbox.user_blocks_bot(ben.user_id)

    question = await composes(world, nurse)
    assert "Recipients: 2 (all active patients)" in question
    texts = nurse.bot_texts()
    preview = texts.index(NEWS)  # the preview is the message itself, nothing added
    assert "Preview" in texts[preview - 1]
    assert got(world, ana.user_id) == 0  # nothing went out before Send

    progress = await sends(world, nurse, "Send now (2)")
    assert [label for row in progress.buttons for label, _data in row] == ["Cancel broadcast"]
    final = await report(world, nurse, progress, "Broadcast finished")
    assert final == "Broadcast finished: 1 sent, 1 blocked, 0 skipped"
    assert not message(world, NURSE, progress.message_id).buttons  # nothing left to cancel
    assert got(world, ana.user_id) == 1
    assert got(world, ben.user_id) == 0
    assert got(world, cleo.user_id) == 0
    assert (await world.patient(ben.user_id)).status == PatientStatus.UNREACHABLE
    await world.settle()
    await world.advance(timedelta(hours=1))
    assert got(world, ana.user_id) == 1  # and never again


async def test_a_photo_with_a_caption_is_previewed_and_sent_as_a_photo(world: World) -> None:
    nurse = await staff_joins(world)
    pat = world.person(1001)
    await pat.enrols()
    await nurse.says("/broadcast", expect="Send me the message")
    world.sandbox.user_sends_photo(NURSE, caption="Our new aftercare kit")
    await world.sandbox.wait_for(
        lambda: "Who should receive it?" in nurse.bot_texts(), timeout=15, what="the question"
    )
    await nurse.presses("Treated in the last 7 days", expect="Send it now?")
    [preview] = [m for m in world.sandbox.bot_messages(NURSE) if m.content == "photo"]
    assert preview.caption == "Our new aftercare kit"
    progress = await sends(world, nurse, "Send now (1)")
    await report(world, nurse, progress, "Broadcast finished: 1 sent")
    [photo] = [m for m in world.sandbox.bot_messages(pat.user_id) if m.content == "photo"]
    assert photo.caption == "Our new aftercare kit"
    assert photo.file_id == preview.file_id


async def test_a_patient_cannot_broadcast(world: World) -> None:
    pat = world.person(1001)
    await pat.enrols()
    await pat.says("/broadcast", expect="This command is for clinic staff.")
    async with world.daemon.sessions() as session:
        assert (await session.exec(select(Broadcast))).all() == []


async def test_a_segment_nobody_matches_sends_nothing_and_offers_another(world: World) -> None:
    nurse = await staff_joins(world)
    await nurse.says("/broadcast", expect="Send me the message")
    await nurse.says(NEWS, expect="Who should receive it?")
    await nurse.presses("All active patients", expect="No patient matches")
    world.sandbox.user_presses_button(NURSE, label="Cancel")
    await world.sandbox.wait_for(
        lambda: "✓ Cancelled" in (nurse.bot_texts()[-1]), timeout=15, what="the draft dropped"
    )
    assert (await the_broadcast(world)).status == BroadcastStatus.CANCELLED


class Gate:
    """A sender that holds the message after the first ``open_after`` until let through."""

    def __init__(self, sender: TelegramSender, open_after: int) -> None:
        self.sender = sender
        self.open_after = open_after
        self.sent = 0
        self.opened = asyncio.Event()

    async def wait_ready(self, chat_id: int) -> None:
        await self.sender.wait_ready(chat_id)

    async def send(self, message: Outbound) -> SendOutcome:
        if self.sent == self.open_after:
            await self.opened.wait()
        self.sent += 1
        return await self.sender.send(message)

    async def edit(self, edit: Edit) -> SendOutcome:
        return await self.sender.edit(edit)


async def test_cancel_midway_leaves_the_rest_unsent(world: World) -> None:
    nurse = await staff_joins(world)
    chats = await patients_added(world, 10)
    bot = Bot(TOKEN, base_url=world.sandbox.base_url)
    await bot.initialize()
    gate = Gate(TelegramSender(bot, Pacer(world.clock, per_second=25)), open_after=3)
    # One at a time, so that "the fourth is in flight" is exact.
    config = BroadcastConfig(window=1)
    world.daemon.broadcaster = Broadcaster(
        world.daemon.sessions, world.clock, gate, "gated", config
    )
    try:
        await composes(world, nurse)
        progress = await sends(world, nurse, "Send now (10)")
        await world.sandbox.wait_for(
            lambda: sum(got(world, chat) for chat in chats) == 3, timeout=15, what="3 sent"
        )
        # The fourth message is in the sender's hands when the nurse cancels.
        world.sandbox.user_presses_button(NURSE, label="Cancel broadcast")

        async def cancelled() -> bool:
            return (await the_broadcast(world)).status == BroadcastStatus.CANCELLED

        for _ in range(300):  # bounded: the press reaches the bot within moments
            if await cancelled():
                break
            await world.sandbox.world.signal.wait(0.05)
        assert await cancelled()
        gate.opened.set()
        final = await report(world, nurse, progress, "Broadcast cancelled")
    finally:
        gate.opened.set()
        await bot.shutdown()
    assert final == "Broadcast cancelled: 4 sent, 0 blocked, 0 skipped, 6 not sent"
    assert [got(world, chat) for chat in chats] == [1] * 4 + [0] * 6
    answers = [e for e in world.sandbox.transcript(NURSE) if e.kind == "callback_answer"]
    assert "Broadcast cancelled" in (answers[-1].text or "")


async def test_reminders_still_go_out_while_a_broadcast_is_sending(world: World) -> None:
    pat = world.person(1001)
    await pat.enrols()
    await world.settle()
    chats = await patients_added(world, 300)
    assert world.daemon.dispatcher is not None
    due = await world.daemon.dispatcher.next_due_at()
    assert due is not None
    # The broadcast starts 2 s before a reminder is due; at 25 messages a second its 301
    # messages take 12 s, so the reminder falls due in the middle of it.
    world.clock.set(due - timedelta(seconds=2))
    assert world.daemon.clinic is not None
    assert world.daemon.clinic.id is not None
    async with world.daemon.sessions() as session:
        made = await broadcasts.create_draft(
            session, clinic_id=world.daemon.clinic.id, now=world.clock.now(), text=NEWS,
            segment=Everyone(),
        )  # fmt: skip
        assert made.id is not None
        assert (
            await broadcasts.confirm(session, made.id, world.clock.now(), include_unassigned=True)
            == 301
        )
    world.daemon.wake()

    async def finished() -> bool:
        async with world.daemon.sessions() as session:
            found = await session.get(Broadcast, made.id, populate_existing=True)
            return found is not None and found.finished_at is not None

    for _ in range(600):  # bounded; each look waits for the sandbox to change
        if await finished():
            break
        await world.sandbox.world.signal.wait(0.05)
    assert await finished()
    assert all(got(world, chat) == 1 for chat in [*chats, pat.user_id])
    async with world.daemon.sessions() as session:
        reminder = (
            await session.exec(
                select(Reminder).where(
                    Reminder.due_at == due, Reminder.status == ReminderStatus.SENT
                )
            )
        ).first()
        last = (
            await session.exec(
                select(BroadcastDelivery.sent_at)
                .where(BroadcastDelivery.status == DeliveryStatus.SENT)
                .order_by(col(BroadcastDelivery.sent_at).desc())
            )
        ).first()
    assert reminder is not None
    assert reminder.sent_at is not None
    assert last is not None
    assert due <= reminder.sent_at < last, "the reminder went out before the broadcast ended"


def aftercare(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=120,
    )


async def test_the_command_line_queues_a_broadcast_the_running_bot_delivers(
    world: World, tmp_path: Path
) -> None:
    pat = world.person(1001)
    await pat.enrols()
    db = ["--database-url", world.daemon.settings.database_url]
    send = ["broadcast", "send", "--clinic", "clinic", "--text", NEWS, *db]

    declined = await asyncio.to_thread(aftercare, tmp_path, *send, stdin="n\n")
    assert declined.returncode == 1
    assert "goes to 1 recipient (all active patients)" in declined.stdout
    assert "Not sent" in declined.stdout

    wrong = await asyncio.to_thread(aftercare, tmp_path, *send, "--segment", "lately", "--yes")
    assert wrong.returncode == 2
    assert "recent:<days>" in wrong.stdout

    # The command line's clock is the real one: months after this world's treatments.
    nobody = await asyncio.to_thread(aftercare, tmp_path, *send, "--segment", "recent:7", "--yes")
    assert nobody.returncode == 1
    assert "Nobody matches" in nobody.stdout

    on_it = ["--segment", "protocol:microneedling", "--yes"]
    sent = await asyncio.to_thread(aftercare, tmp_path, *send, *on_it)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "Queued broadcast #3 for 1 recipient" in sent.stdout
    world.daemon.wake()  # the daemon's safety wake would find it within seconds
    watched = await asyncio.to_thread(
        aftercare, tmp_path, "broadcast", "watch", "3", "--timeout", "30", *db
    )
    assert watched.returncode == 0, watched.stdout
    assert "Broadcast finished: 1 sent, 0 blocked, 0 skipped" in watched.stdout
    assert got(world, pat.user_id) == 1

    status = await asyncio.to_thread(aftercare, tmp_path, "broadcast", "status", "3", *db)
    assert "done" in status.stdout
    assert "active patients on the microneedling protocol" in status.stdout
    late = await asyncio.to_thread(aftercare, tmp_path, "broadcast", "cancel", "3", *db)
    assert late.returncode == 1
    listed = await asyncio.to_thread(aftercare, tmp_path, "broadcast", "list", *db)
    assert "cancelled" in listed.stdout  # the declined draft


async def test_a_server_error_is_retried_later_and_a_429_waits_out_its_pause(world: World) -> None:
    first, second, third = await patients_added(world, 3)
    # One at a time, so that the third waits out the 429's pause (on the fixed clock).
    daemon = world.daemon
    daemon.broadcaster = Broadcaster(
        daemon.sessions, world.clock, daemon._sender, "one-by-one", BroadcastConfig(window=1)
    )
    world.sandbox.inject_fault("sendMessage", "502", count=1, chat_id=first)
    world.sandbox.inject_fault("sendMessage", "429", count=1, chat_id=second, retry_after=3)
    assert world.daemon.clinic is not None
    assert world.daemon.clinic.id is not None
    async with world.daemon.sessions() as session:
        made = await broadcasts.create_draft(
            session, clinic_id=world.daemon.clinic.id, now=world.clock.now(), text=NEWS,
            segment=Everyone(),
        )  # fmt: skip
        assert made.id is not None
        assert await broadcasts.confirm(session, made.id, world.clock.now()) == 3
    paused_at = world.clock.now()
    await world.settle()  # 502 for the first; the 429 stops the batch and pauses sending
    await world.settle()  # the third, sent once the pause is over...
    await world.settle()  # ...and the second, due again when its pause ended
    assert [got(world, chat) for chat in (first, second, third)] == [0, 1, 1]
    assert world.clock.now() >= paused_at + timedelta(seconds=3)
    await world.advance(timedelta(seconds=10))  # past the 502's backoff (5 s + jitter)
    assert [got(world, chat) for chat in (first, second, third)] == [1, 1, 1]
    async with world.daemon.sessions() as session:
        rows = (
            await session.exec(select(BroadcastDelivery).order_by(col(BroadcastDelivery.id)))
        ).all()
        done = await session.get(Broadcast, made.id)
    assert [(r.status, r.attempts) for r in rows] == [
        (DeliveryStatus.SENT, 2),  # the 502 counted as an attempt
        (DeliveryStatus.SENT, 1),  # the 429 did not
        (DeliveryStatus.SENT, 1),
    ]
    assert done is not None
    assert done.status == BroadcastStatus.DONE


async def test_staff_choose_a_protocol_or_a_course_stage_among_those_in_use(world: World) -> None:
    nurse = await staff_joins(world)
    pat = world.person(1001)
    await pat.enrols()
    await nurse.says("/broadcast", expect="Send me the message")
    await nurse.says(NEWS, expect="Who should receive it?")
    await nurse.presses("A protocol…", expect="Which protocol?")
    question = await nurse.presses("microneedling", expect="Send it now?")
    assert "Recipients: 1 (active patients on the microneedling protocol)" in (question.text or "")
    await nurse.presses("Change audience", expect="Who should receive it?")
    await nurse.presses("A course stage…", expect="Which course stage?")
    question = await nurse.presses("standard: treatment 1", expect="Send it now?")
    assert "(active patients at treatment 1 of the standard course)" in (question.text or "")
    progress = await sends(world, nurse, "Send now (1)")
    await report(world, nurse, progress, "Broadcast finished: 1 sent")
    assert got(world, pat.user_id) == 1
    # A stale button of the sent broadcast changes nothing.
    world.sandbox.user_presses_button(NURSE, label="All active patients")
    await world.sandbox.wait_for(
        lambda: any(
            "already sent" in (e.text or "")
            for e in world.sandbox.transcript(NURSE)
            if e.kind == "callback_answer"
        ),
        timeout=15,
        what="the stale press answered",
    )
