"""The "Done" and "Remind me in 1 hour" buttons through the real bot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.daemon import Daemon
from bot.sandbox.model import TranscriptEntry
from messages.render import render_step
from schedules.models import Reminder, ReminderStatus
from schedules.protocol import bundled_protocol
from tests.e2e.harness import TOKEN, Person, World

LONDON = ZoneInfo("Europe/London")
MOISTURISE = "moisturise-morning"
MOISTURISE_TEXT = render_step(bundled_protocol(), MOISTURISE, "en").text
SNOOZE = "Remind me in 1 hour"


def moisturisers(world: World, user_id: int) -> list[TranscriptEntry]:
    """Morning moisturiser messages in the chat (a closed one carries a "✓ ..." note)."""
    return [
        e for e in world.sandbox.bot_messages(user_id) if (e.text or "").startswith(MOISTURISE_TEXT)
    ]


def labels(entry: TranscriptEntry) -> list[str]:
    return [label for row in entry.buttons for label, _ in row]


def current(world: World, user_id: int, message_id: int | None) -> TranscriptEntry:
    return next(e for e in world.sandbox.bot_messages(user_id) if e.message_id == message_id)


async def press_and_wait_for_edit(
    world: World, pat: Person, message: TranscriptEntry, label: str
) -> TranscriptEntry:
    """Press a button of ``message``; return the message once the bot has edited it."""
    world.sandbox.user_presses_button(pat.user_id, label=label, message_id=message.message_id)
    await world.sandbox.wait_for(
        lambda: (
            current(world, pat.user_id, message.message_id).edited
            and current(world, pat.user_id, message.message_id).text != message.text
        ),
        what=f"the message edited after {label!r}",
    )
    return current(world, pat.user_id, message.message_id)


async def snoozed_rows(world: World, user_id: int) -> list[Reminder]:
    return [r for r in await world.reminders(user_id) if r.snoozed_from is not None]


async def enrolled_with_morning_message(world: World) -> tuple[Person, TranscriptEntry]:
    pat = world.person()
    await pat.enrols()  # London; now Fri 27 Mar 09:00; the 08:15 moisturiser goes out late
    await world.settle()
    [morning] = moisturisers(world, pat.user_id)
    assert labels(morning) == ["Done", SNOOZE]
    return pat, morning


async def test_snooze_sends_the_same_text_an_hour_later_exactly_once(world: World) -> None:
    pat, morning = await enrolled_with_morning_message(world)
    pressed_at = world.clock.now()
    edited = await press_and_wait_for_edit(world, pat, morning, SNOOZE)
    assert edited.text == MOISTURISE_TEXT + "\n\n✓ I'll remind you again at 10:00."
    assert edited.buttons == ()
    original = next(r for r in await world.reminders(pat.user_id) if r.step_id == MOISTURISE)
    [copy] = await snoozed_rows(world, pat.user_id)
    assert copy.snoozed_from == original.id
    assert copy.step_id == MOISTURISE
    assert copy.treatment_id == original.treatment_id
    assert copy.occurrence == -(original.id or 0)
    assert copy.due_at == pressed_at + timedelta(hours=1)

    await world.advance(timedelta(minutes=59))
    assert len(moisturisers(world, pat.user_id)) == 1
    await world.advance(timedelta(minutes=2))
    again = moisturisers(world, pat.user_id)
    assert len(again) == 2
    assert again[-1].text == MOISTURISE_TEXT
    assert labels(again[-1]) == ["Done", SNOOZE]

    # A snoozed reminder can be snoozed again; a re-plan leaves both copies alone.
    await press_and_wait_for_edit(world, pat, again[-1], SNOOZE)
    await pat.says("/settings", expect="Your settings")  # any change re-plans; quiet hours do
    await pat.presses("Quiet hours", expect="stay silent")
    await pat.presses("22:00–07:00", expect="Next:")
    rows = await snoozed_rows(world, pat.user_id)
    assert len(rows) == 2
    assert rows[1].snoozed_from == rows[0].id
    assert rows[1].status == ReminderStatus.PENDING
    await world.live_until(pressed_at + timedelta(hours=8))
    assert len(moisturisers(world, pat.user_id)) == 3
    assert all(r.status == ReminderStatus.SENT for r in await snoozed_rows(world, pat.user_id))


async def test_a_snooze_survives_a_restart_of_the_daemon(world: World) -> None:
    pat, morning = await enrolled_with_morning_message(world)
    await press_and_wait_for_edit(world, pat, morning, SNOOZE)
    settings = world.daemon.settings
    await world.daemon.stop()
    world.daemon = Daemon(settings, world.clock, token=TOKEN, base_url=world.sandbox.base_url)
    await world.daemon.start()
    await world.advance(timedelta(minutes=61))
    assert len(moisturisers(world, pat.user_id)) == 2
    await world.advance(timedelta(hours=3))
    assert len(moisturisers(world, pat.user_id)) == 2


async def test_a_snooze_at_half_past_eight_in_the_evening_waits_for_the_morning(
    world: World,
) -> None:
    pat, morning = await enrolled_with_morning_message(world)
    await world.advance_to(datetime(2026, 3, 27, 20, 30, tzinfo=UTC))  # 20:30 in London
    edited = await press_and_wait_for_edit(world, pat, morning, SNOOZE)
    assert "✓ I'll remind you again at Sat 28 Mar, 08:00." in (edited.text or "")
    [copy] = await snoozed_rows(world, pat.user_id)
    assert copy.due_at == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)  # quiet hours end, not 21:30

    await world.live_until(datetime(2026, 3, 28, 7, 59, tzinfo=UTC))
    assert len(moisturisers(world, pat.user_id)) == 1
    await world.advance_to(datetime(2026, 3, 28, 8, 1, tzinfo=UTC))
    assert len(moisturisers(world, pat.user_id)) == 2
    [copy] = await snoozed_rows(world, pat.user_id)
    assert copy.status == ReminderStatus.SENT
    assert copy.sent_at is not None
    assert copy.sent_at.astimezone(LONDON).hour == 8


async def test_done_ticks_the_message_and_removes_its_buttons(world: World) -> None:
    pat, morning = await enrolled_with_morning_message(world)
    before = await world.reminders(pat.user_id)
    edited = await press_and_wait_for_edit(world, pat, morning, "Done")
    assert edited.text == MOISTURISE_TEXT + "\n\n✓ Done"
    assert edited.buttons == ()
    after = await world.reminders(pat.user_id)
    assert [(r.id, r.status) for r in after] == [(r.id, r.status) for r in before]

    # Tapped twice before the edit arrived: the second tap changes nothing.
    world.sandbox.user_presses_button(
        pat.user_id,
        callback_data=f"act:{after[0].id}:done",
        message_id=morning.message_id,
        force=True,
    )
    await world.sandbox.wait_for(
        lambda: (
            sum(1 for e in world.sandbox.transcript(pat.user_id) if e.kind == "callback_answer")
            >= 2
        ),
        what="the second tap answered",
    )
    assert current(world, pat.user_id, morning.message_id).text == edited.text


async def test_a_double_snooze_makes_one_copy(world: World) -> None:
    pat, morning = await enrolled_with_morning_message(world)
    await press_and_wait_for_edit(world, pat, morning, SNOOZE)
    [copy] = await snoozed_rows(world, pat.user_id)
    world.sandbox.user_presses_button(
        pat.user_id,
        callback_data=f"act:{copy.snoozed_from}:snooze",
        message_id=morning.message_id,
        force=True,
    )
    await world.sandbox.wait_for(
        lambda: any(
            e.kind == "callback_answer" and "10:00" in (e.text or "")
            for e in world.sandbox.transcript(pat.user_id)
        ),
        what="the second snooze answered with the time already set",
    )
    assert await snoozed_rows(world, pat.user_id) == [copy]


async def test_stale_action_buttons_get_the_alert(world: World) -> None:
    pat, morning = await enrolled_with_morning_message(world)
    other = world.person(2002)
    await other.enrols()
    await world.settle()
    mine = next(r for r in await world.reminders(pat.user_id) if r.step_id == MOISTURISE)
    presses = [
        (pat, "act:999999:snooze"),  # no such reminder
        (other, f"act:{mine.id}:snooze"),  # someone else's reminder
        (pat, f"act:{mine.id}:outside"),  # an action this step does not offer
        (other, f"act:{mine.id}:done"),
    ]
    for count, (who, data) in enumerate(presses, start=1):
        last = world.sandbox.bot_messages(who.user_id)[-1].message_id
        world.sandbox.user_presses_button(
            who.user_id, callback_data=data, message_id=last, force=True
        )
        await world.sandbox.wait_for(
            lambda c=count: len(alerts(world, pat, other)) >= c, what=f"alert {count}"
        )
    found = alerts(world, pat, other)
    assert len(found) == 4
    assert all("no longer active" in (a.text or "") for a in found)
    assert await snoozed_rows(world, pat.user_id) == []
    assert await snoozed_rows(world, other.user_id) == []
    assert current(world, pat.user_id, morning.message_id).buttons == morning.buttons


def alerts(world: World, *people: Person) -> list[TranscriptEntry]:
    return [
        e
        for who in people
        for e in world.sandbox.transcript(who.user_id)
        if e.kind == "callback_answer" and e.show_alert
    ]
