"""Figure 7: the safety path under load.

A patient writes an emergency while a broadcast is sending to every patient, a backlog of
reminders is overdue (as after an outage) and, a moment before, other patients tap a
button on their reminder all at once. The real daemon (polling, three pass loops, one
pacer at Telegram's 30/s) against the sandbox process, which answers every sendMessage
after the round trip. Measured from the moment the message reaches the sandbox to the
moment the answer, and the first staff alert, are recorded there.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from bot.bench.at_limit import LIMIT, start_broadcast
from bot.bench.databases import scratch
from bot.bench.figures import Figure, at_most
from bot.bench.live import live_daemon, protocol_id
from bot.bench.sandbox_process import RemoteSandbox
from bot.bench.seeding import bulk_reminders, enrol, reminder_rows
from bot.daemon import Daemon
from schedules.models import Staff, StaffRole

SECTION = "7. The safety path under load"
EMERGENCY = "my lips and tongue are swelling and I can't breathe"
ANSWER_MARK = "serious reaction"  # words of the emergency answer (messages/triage/rules.yaml)


@dataclass(frozen=True)
class Safety:
    recipients: int
    overdue: int
    tappers: int
    round_trip: float
    backend: str
    answer_seconds: float
    alert_seconds: float


async def measure(
    sandbox: RemoteSandbox,
    recipients: int,
    overdue: int,
    tappers: int,
    round_trip: float,
    backend: str = "sqlite",
) -> Safety:
    """``recipients`` patients (chats 1..N), staff in chat N + 1."""
    sandbox.delay_sends(round_trip)
    staff_chat = recipients + 1
    async with (
        scratch(backend) as url,
        live_daemon(url, sandbox, messages_per_second=LIMIT, poll=True) as daemon,
        httpx.AsyncClient(base_url=sandbox.url, timeout=70) as control,
    ):
        clinic_id = await _seed(daemon, url, recipients, overdue, staff_chat)
        await start_broadcast(daemon, clinic_id, daemon.clock.now())
        daemon.wake()
        tappers_chats = list(range(2, 2 + tappers))
        buttons = [await _first_button(control, chat) for chat in tappers_chats]
        await asyncio.gather(
            *(
                control.post(f"/control/users/{chat}/press", json={"callback_data": data})
                for chat, data in zip(tappers_chats, buttons, strict=True)
            )
        )
        patient = 2 + tappers
        before = len(await _bot_messages(control, patient))
        alerts_before = len(await _bot_messages(control, staff_chat))
        began = time.monotonic()
        await control.post(f"/control/users/{patient}/text", json={"text": EMERGENCY})
        answered = await _arrival(control, patient, before, ANSWER_MARK) - began
        alerted = await _arrival(control, staff_chat, alerts_before, "") - began
    sandbox.delay_sends(0)
    return Safety(recipients, overdue, tappers, round_trip, backend, answered, alerted)


async def _seed(daemon: Daemon, url: str, recipients: int, overdue: int, staff: int) -> int:
    assert daemon.clinic is not None
    assert daemon.clinic.id is not None
    clinic_id, now = daemon.clinic.id, daemon.clock.now()
    enrolled = await enrol(
        daemon.engine, first_chat=1, count=recipients, protocol_id=await protocol_id(daemon),
        now=now, clinic_id=clinic_id,
    )  # fmt: skip
    due = [now - timedelta(minutes=30)] * overdue  # the backlog an outage leaves
    await bulk_reminders(url, reminder_rows(enrolled, due))
    async with daemon.sessions() as session:
        session.add(Staff(clinic_id=clinic_id, user_id=staff, role=StaffRole.OWNER, created_at=now))
        await session.commit()
    return clinic_id


async def _bot_messages(control: httpx.AsyncClient, chat: int) -> list[dict[str, Any]]:
    answer = await control.get(f"/control/chats/{chat}/transcript")
    answer.raise_for_status()
    return _messages_of_the_bot(answer.json()["result"])


async def _first_button(control: httpx.AsyncClient, chat: int) -> str:
    """The callback data of the first button the bot sent to ``chat`` (its reminder's)."""
    while True:
        for message in await _bot_messages(control, chat):
            if message["buttons"]:
                return str(message["buttons"][0][0][1])
        await _wait_for(control, chat, len(await _bot_messages(control, chat)) + 1)


async def _arrival(control: httpx.AsyncClient, chat: int, seen: int, mark: str) -> float:
    """The moment (monotonic) a bot message containing ``mark`` after the first ``seen``
    ones is in the chat's transcript."""
    give_up = time.monotonic() + 120
    while time.monotonic() < give_up:
        messages = await _wait_for(control, chat, seen + 1)
        arrived = time.monotonic()
        if any(mark in (m["text"] or "") for m in messages[seen:]):
            return arrived
        seen = len(messages)
    raise TimeoutError(f"no message with {mark!r} in chat {chat} within 120 s")


async def _wait_for(control: httpx.AsyncClient, chat: int, count: int) -> list[dict[str, Any]]:
    answer = await control.get(
        f"/control/chats/{chat}/wait", params={"bot_messages": count, "timeout": 60}
    )
    answer.raise_for_status()
    return _messages_of_the_bot(answer.json()["result"])


def _messages_of_the_bot(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As the sandbox counts them for ``wait``: the bot's messages, not deleted."""
    return [
        e for e in transcript if e["who"] == "bot" and e["kind"] == "message" and not e["deleted"]
    ]


def figures(result: Safety) -> list[Figure]:
    db = result.backend
    load = (
        f"round trip {result.round_trip * 1000:.0f} ms, a {result.recipients}-recipient "
        f"broadcast, {result.overdue} reminders overdue, {result.tappers} taps just before"
    )
    return [
        Figure(
            f"safety.{db}.answer", SECTION, f"{db}: emergency typed → its answer ({load})",
            result.answer_seconds, "s", "≤ 1 s", at_most(result.answer_seconds, 1.0),
        ),
        Figure(
            f"safety.{db}.alert", SECTION, f"{db}: emergency typed → the first staff alert",
            result.alert_seconds, "s", "≤ 2 s", at_most(result.alert_seconds, 2.0),
        ),
    ]  # fmt: skip
