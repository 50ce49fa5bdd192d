"""`aftercare demo`: a patient's weeks of aftercare in under a minute, on the sandbox.

The patient enrols at real speed (the same clicks a person makes), then the
fast clock lets the weeks pass in seconds. The chat is printed with each
message's local time, and the outbox is checked against what the patient got.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from sqlmodel import col, func, select

from bot.cli import SANDBOX_TOKEN
from bot.daemon import Daemon
from bot.sandbox.model import TranscriptEntry
from bot.sandbox.server import Sandbox
from bot.settings import Settings
from schedules.clock import FastClock
from schedules.models import Reminder, ReminderStatus
from schedules.zones import find_timezones

USER_ID = 4242
REDNESS_GONE_ON_DAY = 3
ALL_CLEAR = "none"  # "None of these" on the day 2 and day 5 red-flag checks
OUTING_DAY = 2  # taps "I'm going outside" on this morning's sun advice...
REAPPLIES_OUTDOORS = 2  # ...and "I'm inside" after this many reapply reminders
ALARM_LEAD = timedelta(seconds=5)  # skip to this long before a due time, then let the alarm fire


class DemoPatient:
    """Acts in the sandbox as a person would, waiting for the bot's answer each time."""

    def __init__(self, sandbox: Sandbox, user_id: int) -> None:
        self.sandbox = sandbox
        self.user_id = user_id
        self.answered: set[int | None] = set()
        self.went_out = False
        self.came_in = False

    async def says(self, text: str, expect: str | None = None) -> None:
        before = len(self.sandbox.bot_messages(self.user_id))
        self.sandbox.user_sends_text(self.user_id, text, first_name="Demo", language_code="en")
        await self._reply(before, expect)

    async def presses(self, label: str, expect: str | None = None) -> None:
        before = len(self.sandbox.bot_messages(self.user_id))
        self.sandbox.user_presses_button(self.user_id, label=label)
        await self._reply(before, expect)

    async def sees(self, words: str) -> None:
        """Wait for a bot message containing ``words`` (one that is not a reply to us)."""

        def seen() -> bool:
            return any(words in (m.text or "") for m in self.sandbox.bot_messages(self.user_id))

        await self.sandbox.wait_for(seen, timeout=15, what=f"a message with {words!r}")

    async def presses_data(self, data: str, message_id: int | None) -> None:
        before = len(self.sandbox.bot_messages(self.user_id))
        self.sandbox.user_presses_button(self.user_id, callback_data=data, message_id=message_id)
        await self._reply(before, None)

    async def _reply(self, before: int, expect: str | None) -> None:
        def replied() -> bool:
            new = self.sandbox.bot_messages(self.user_id)[before:]
            return any(expect is None or expect in (m.text or "") for m in new)

        await self.sandbox.wait_for(replied, timeout=15, what="the bot's reply")


async def run_demo(
    *, seconds: float, speed: float, place: str, database_url: str | None, console: Console
) -> int:
    zones = find_timezones(place)
    if not zones:
        console.print(f'[red]Unknown place "{place}"; try a city such as Berlin.[/red]')
        return 2
    zone = ZoneInfo(zones[0])
    today = datetime.now(UTC).astimezone(zone).date()
    clock = FastClock(datetime.combine(today, time(10, 40), zone).astimezone(UTC), speed=speed)
    with tempfile.TemporaryDirectory(prefix="aftercare-demo-") as folder:
        url = database_url or f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}"
        sandbox = Sandbox(monotonic=clock.monotonic, now=clock.now)
        await sandbox.start()
        daemon = Daemon(
            Settings(database_url=url), clock, token=SANDBOX_TOKEN, base_url=sandbox.base_url
        )
        try:
            await daemon.start()
            return await _journey(daemon, sandbox, clock, zone, place, seconds, console)
        finally:
            await daemon.stop()
            await sandbox.stop()


async def _journey(
    daemon: Daemon,
    sandbox: Sandbox,
    clock: FastClock,
    zone: ZoneInfo,
    place: str,
    seconds: float,
    console: Console,
) -> int:
    patient = DemoPatient(sandbox, USER_ID)
    console.print("[bold]A patient enrols[/bold]…")
    await patient.says("/start")
    await patient.presses("English")
    await patient.presses("I understand")
    await patient.says(place)
    await patient.presses("Yes, that's right")
    await patient.presses("Earlier today")
    await patient.presses("10:00", expect="Next:")
    await patient.sees("What is your skin type?")
    await patient.presses("Dry", expect="darker skin tone")  # dry skin: evening moisturiser too
    await patient.presses("No", expect="apply to you")
    await patient.presses("Skip")
    # A worried message on the treatment day: triage answers at once, from the rules.
    await patient.says("my face is very red and feels tight, is that normal?", expect="common")
    treated = datetime.combine(clock.now().astimezone(zone).date(), time(10, 0), zone)
    console.print(
        f"[bold]Time flies[/bold] at {clock.speed:g}× and skips the quiet stretches in between…"
    )
    finished = await _live(daemon, sandbox, clock, patient, treated, within=seconds)
    _print_chat(sandbox.transcript(USER_ID), zone, treated, console)
    return await _report(daemon, sandbox, finished, console)


async def _live(
    daemon: Daemon,
    sandbox: Sandbox,
    clock: FastClock,
    patient: DemoPatient,
    treated: datetime,
    within: float,
) -> bool:
    """Skip to just before each due time and let the daemon's own alarm send it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        due = await _next_due(daemon)
        if due is None:
            return True
        if due - clock.now() > ALARM_LEAD:
            clock.skip_to(due - ALARM_LEAD)
            daemon.wake()  # re-arms the alarm for the new "now"
        await _until_sent(daemon, sandbox, due, deadline)
        await _answer_checkins(patient, clock, treated)
        await _spend_a_morning_outdoors(patient, clock, treated)
    return False


async def _next_due(daemon: Daemon) -> datetime | None:
    async with daemon.sessions() as session:
        result = await session.exec(
            select(func.min(Reminder.due_at)).where(
                col(Reminder.status).in_([ReminderStatus.PENDING, ReminderStatus.CLAIMED])
            )
        )
        return result.one()


async def _until_sent(daemon: Daemon, sandbox: Sandbox, due: datetime, deadline: float) -> None:
    """Wait until nothing due by ``due`` is still open, re-checking on each chat change."""
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        next_due = await _next_due(daemon)
        if next_due is None or next_due > due:
            return
        with contextlib.suppress(TimeoutError):
            await sandbox.wait_for(lambda: False, timeout=0.05, what="a change")


async def _answer_checkins(patient: DemoPatient, clock: FastClock, treated: datetime) -> None:
    """The patient answers each "is the redness gone?" (not yet, until day 3) and each
    red-flag check ("None of these": the healing goes well, nobody is alerted)."""
    for entry in patient.sandbox.bot_messages(patient.user_id):
        data = [d for row in entry.buttons for _, d in row if d and d.startswith("ans:")]
        if not data or entry.message_id in patient.answered:
            continue
        patient.answered.add(entry.message_id)
        day = (clock.now() - treated).days
        wanted = "gone" if day >= REDNESS_GONE_ON_DAY else "not-yet"
        if any(d.endswith(f":{ALL_CLEAR}") for d in data):
            wanted = ALL_CLEAR
        choice = next((d for d in data if d.endswith(f":{wanted}")), data[0])
        await patient.presses_data(choice, entry.message_id)


async def _spend_a_morning_outdoors(
    patient: DemoPatient, clock: FastClock, treated: datetime
) -> None:
    """On day 2 the patient goes out after the sun advice and comes in a few hours later."""
    messages = patient.sandbox.bot_messages(patient.user_id)

    def day_of(entry: TranscriptEntry) -> int:
        return (entry.date.astimezone(treated.tzinfo).date() - treated.date()).days

    if not patient.went_out:
        offer = next(
            (m for m in messages if _action(m, "outside") and day_of(m) == OUTING_DAY), None
        )
        if offer is not None:
            patient.went_out = True
            await patient.presses_data(_action(offer, "outside") or "", offer.message_id)
    elif patient.went_out and not patient.came_in:
        reapplies = [m for m in messages if _action(m, "inside")]
        if len(reapplies) >= REAPPLIES_OUTDOORS:
            patient.came_in = True
            newest = reapplies[-1]
            await patient.presses_data(_action(newest, "inside") or "", newest.message_id)


def _action(entry: TranscriptEntry, action: str) -> str | None:
    """The callback data of a reminder's action button ("act:<id>:<action>"), if it has one."""
    return next(
        (
            d
            for row in entry.buttons
            for _, d in row
            if d and d.startswith("act:") and d.endswith(f":{action}")
        ),
        None,
    )


def _print_chat(
    entries: list[TranscriptEntry], zone: ZoneInfo, treated: datetime, console: Console
) -> None:
    console.rule(f"The patient's chat ({zone.key} local time)")
    for entry in entries:
        if entry.kind == "callback_answer" and not entry.show_alert:
            continue
        local = entry.date.astimezone(zone)
        day = (local.date() - treated.date()).days
        stamp = f"day {day:>2} {local:%a %d %b %H:%M}"
        if entry.kind == "button_press":
            console.print(f"[dim]{stamp}[/dim]  [green]patient taps[/green] [{entry.text}]")
        elif entry.who == "user":
            console.print(f"[dim]{stamp}[/dim]  [green]patient:[/green] {entry.text}")
        else:
            buttons = "  ".join(f"[{label}]" for row in entry.buttons for label, _ in row)
            console.print(f"[dim]{stamp}[/dim]  [cyan]bot:[/cyan] {entry.text}")
            if buttons:
                console.print(f"{'':>24}{buttons}", markup=False)


async def _report(daemon: Daemon, sandbox: Sandbox, finished: bool, console: Console) -> int:
    """Compare the outbox with the chat: every sent reminder arrived exactly once."""
    async with daemon.sessions() as session:
        rows = await session.exec(
            select(Reminder.status, func.count()).group_by(col(Reminder.status))
        )
        by_status = {str(status): int(count) for status, count in rows.all()}
        sent_ids = set(
            (
                await session.exec(
                    select(Reminder.sent_message_id).where(Reminder.status == ReminderStatus.SENT)
                )
            ).all()
        )
    chat_ids = {e.message_id for e in sandbox.bot_messages(USER_ID)}
    missing = {m for m in sent_ids if m not in chat_ids}
    console.rule("Outbox")
    console.print(", ".join(f"{status}: {count}" for status, count in sorted(by_status.items())))
    console.print(f"reminders sent: {len(sent_ids)}; bot messages in the chat: {len(chat_ids)}")
    if not finished:
        console.print("[red]The journey did not finish in time.[/red]")
    if missing:
        console.print(f"[red]{len(missing)} sent reminders are not in the chat.[/red]")
    ok = finished and not missing
    console.print("[green]Demo finished.[/green]" if ok else "[red]Demo failed.[/red]")
    console.print("Play a patient yourself: make run, then open http://127.0.0.1:8081/chat")
    return 0 if ok else 1
