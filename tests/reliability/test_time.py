"""Time misbehaving while reminders are pending: the clock jumps forward (a suspended host,
a long outage) or backward (an NTP correction), the patient's zone changes to or from
summer time, and the host itself runs in an odd timezone. The clock is always the test's
(no sleeps): each reminder must arrive once, at its planned local wall time, or follow its
step's late policy; none is lost and none doubled.

``tests/e2e/test_journey.py`` already follows the London spring change for one step, and
``tests/unit/test_planner*.py`` hold the planner's DST properties; this adds the whole
plan through the real daemon across New York's changes, jumps both ways, and host zones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time as time_module
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules.clock import FixedClock
from schedules.models import ReminderStatus
from schedules.planner import Preferences, plan
from schedules.plans import still_worth_sending
from schedules.protocol import bundled_protocol
from tests.e2e.harness import World, stop_world
from tests.reliability.live import capture_errors, start_world_on

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
PATIENT = 40_001
HOST_ZONES = ["UTC", "Pacific/Chatham", "America/St_Johns"]  # +12:45/+13:45, -03:30/-02:30


class JumpingClock(FixedClock):
    """A fixed clock that can also be set back, as an NTP correction sets a host's clock."""

    def jump_to(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


async def _world(tmp_path: Path, start: datetime) -> World:
    clock = JumpingClock(start)
    return await start_world_on(f"sqlite+aiosqlite:///{tmp_path / 'time.db'}", start, clock=clock)


@pytest.fixture
def host_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the process's local timezone set to ``request.param``."""
    zone: str = getattr(request, "param", "UTC")
    saved = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time_module.tzset()
    try:
        yield zone
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time_module.tzset()


async def _live_through(world: World, end: datetime) -> None:
    """Go to each due time in turn (exactly), letting the dispatcher send, until ``end``."""
    assert world.daemon.dispatcher is not None
    for _ in range(1000):
        due = await world.daemon.dispatcher.next_due_at()
        if due is None or due > end:
            break
        await world.advance_to(max(due, world.clock.now()))
    await world.advance_to(end)


async def _no_reminder_lost_or_doubled(
    world: World, planned: dict[tuple[str, int], datetime]
) -> None:
    """Every row planned at enrolment and due by now went out once (or was skipped by its
    policy); the chat holds one message per sent row; nothing due is still pending."""
    rows = await world.reminders(PATIENT)
    now = world.clock.now()
    by_key = {(r.step_id, r.occurrence): r for r in rows}
    for key, due in planned.items():
        if due <= now:
            assert by_key[key].status in (ReminderStatus.SENT, ReminderStatus.SKIPPED), key
    sent = [r for r in rows if r.status == ReminderStatus.SENT]
    ids = Counter(r.sent_message_id for r in sent)
    assert all(count == 1 for count in ids.values()), "two rows share one message"
    delivered = {e.message_id for e in world.sandbox.bot_messages(PATIENT)}
    assert set(ids) <= delivered
    assert not [r for r in rows if r.status == ReminderStatus.PENDING and r.due_at <= now]
    assert not [r for r in rows if r.status == ReminderStatus.FAILED]


async def _enrol(world: World, place: str) -> dict[tuple[str, int], datetime]:
    await world.person(PATIENT).enrols(place=place)
    await world.settle()
    pending = await world.reminders(PATIENT, ReminderStatus.PENDING)
    assert pending
    return {(r.step_id, r.occurrence): r.due_at for r in pending}


# --- DST while reminders are pending, on hosts in odd zones --------------------------------

DST_CASES = {
    # zone, a start a few days before the change, the change's local day
    "new-york-spring": ("America/New_York", datetime(2026, 3, 5, 14, 0, tzinfo=UTC), 8),
    "new-york-autumn": ("America/New_York", datetime(2026, 10, 29, 14, 0, tzinfo=UTC), 1),
    "london-spring": ("Europe/London", datetime(2026, 3, 26, 10, 0, tzinfo=UTC), 29),
}


@pytest.mark.parametrize(
    ("case", "host_zone"),
    [
        ("new-york-spring", "Pacific/Chatham"),
        ("new-york-autumn", "America/St_Johns"),
        ("london-spring", "UTC"),
    ],
    indirect=["host_zone"],
)
async def test_across_a_dst_change_each_reminder_arrives_once_at_its_local_time(
    case: str, host_zone: str, tmp_path: Path
) -> None:
    zone_name, start, change_day = DST_CASES[case]
    zone = ZoneInfo(zone_name)
    world = await _world(tmp_path, start)
    try:
        with capture_errors() as errors:
            planned = await _enrol(world, zone_name)
            enrolled_at = world.clock.now()
            end = start + timedelta(days=8)
            await _live_through(world, end)
            await _no_reminder_lost_or_doubled(world, planned)
            assert errors.lines() == []
        sent = await world.reminders(PATIENT, ReminderStatus.SENT)
        spec = bundled_protocol()
        offsets = set()
        for row in sent:
            if row.due_at <= enrolled_at or (row.step_id, row.occurrence) not in planned:
                continue  # what fell due before enrolment (treated yesterday) goes out at once
            assert row.sent_at == row.due_at, "stepping to each due time, each is sent then"
            assert row.due_at == planned[(row.step_id, row.occurrence)]
            step = spec.step(row.step_id)
            wall = row.due_at.astimezone(zone)
            if step.at is not None and step.quiet.value == "defer":
                index = row.occurrence % 100
                if step.days is not None or step.day is not None:
                    assert wall.time() == step.at[index] or not 8 <= step.at[index].hour < 21, (
                        f"{row.step_id} at {wall}"
                    )
            offsets.add(wall.utcoffset())
        assert len(offsets) == 2, "the run must cross the change"
        assert all(8 <= r.due_at.astimezone(zone).hour < 21 for r in sent), "quiet hours kept"
        on_the_day = [r for r in sent if r.due_at.astimezone(zone).day == change_day]
        assert on_the_day, "reminders fall on the day of the change itself"
    finally:
        await stop_world(world)


# --- the clock jumps -----------------------------------------------------------------------

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("jump", [timedelta(hours=3), timedelta(days=6)])
async def test_a_jump_forward_sends_what_fell_due_once_and_then_keeps_time(
    jump: timedelta, tmp_path: Path
) -> None:
    world = await _world(tmp_path, START)
    try:
        with capture_errors() as errors:
            planned = await _enrol(world, "Europe/London")
            before = len(world.sandbox.bot_messages(PATIENT))
            landing = world.clock.now() + jump
            await world.advance(jump)  # one pass after the jump, as the woken daemon does
            await world.settle()  # and another: nothing more may go out
            after_jump = len(world.sandbox.bot_messages(PATIENT))
            await world.settle()
            assert len(world.sandbox.bot_messages(PATIENT)) == after_jump
            await _no_reminder_lost_or_doubled(world, planned)
            assert after_jump > before
            # Late daily advice collapses: at most one message per step from the jump.
            rows = await world.reminders(PATIENT, ReminderStatus.SENT)
            late = Counter(
                r.step_id for r in rows if r.due_at < landing and r.sent_at and r.sent_at >= landing
            )
            assert late, "something fell due during the jump"
            spec = bundled_protocol()
            for step_id, count in late.items():
                if spec.step(step_id).late.policy.value == "collapse":
                    assert count == 1, step_id
            # After the jump the remaining reminders keep their planned times.
            jumped_at = world.clock.now()
            await _live_through(world, jumped_at + timedelta(days=3))
            await _no_reminder_lost_or_doubled(world, planned)
            for row in await world.reminders(PATIENT, ReminderStatus.SENT):
                if row.due_at > jumped_at:
                    assert row.sent_at == row.due_at
            assert errors.lines() == []
    finally:
        await stop_world(world)


@pytest.mark.parametrize("back", [timedelta(minutes=5), timedelta(days=1)])
async def test_a_jump_backward_resends_nothing_and_sends_nothing_early(
    back: timedelta, tmp_path: Path
) -> None:
    world = await _world(tmp_path, START)
    assert isinstance(world.clock, JumpingClock)
    try:
        with capture_errors() as errors:
            planned = await _enrol(world, "Europe/London")
            await world.advance_to_next_due()
            await world.advance_to_next_due()
            sent_before = {
                (r.step_id, r.occurrence): r.sent_message_id
                for r in await world.reminders(PATIENT, ReminderStatus.SENT)
            }
            assert sent_before
            messages_before = len(world.sandbox.bot_messages(PATIENT))
            high_water = world.clock.now()

            world.clock.jump_to(high_water - back)
            await world.settle()
            await world.settle()
            assert len(world.sandbox.bot_messages(PATIENT)) == messages_before
            still = {
                (r.step_id, r.occurrence): r.sent_message_id
                for r in await world.reminders(PATIENT, ReminderStatus.SENT)
            }
            assert still == sent_before

            # The patient acts while the clock is behind: the re-plan keeps history.
            await world.person(PATIENT).says("/plan", expect="Coming up")
            await _live_through(world, high_water + timedelta(days=3))
            await _no_reminder_lost_or_doubled(world, planned)
            rows = await world.reminders(PATIENT, ReminderStatus.SENT)
            keys = Counter((r.step_id, r.occurrence) for r in rows)
            assert all(count == 1 for count in keys.values())
            for row in rows:
                assert row.sent_at is not None
                assert row.sent_at >= row.due_at, row.step_id
            assert errors.lines() == []
    finally:
        await stop_world(world)


# --- pure time arithmetic, as properties ---------------------------------------------------

ODD_ZONES = ["America/New_York", "Europe/London", "Pacific/Chatham", "America/St_Johns",
             "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Kiritimati", "America/Santiago"]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ODD_ZONES),
    treated=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
    earlier=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5)),
)
def test_planning_at_a_later_clock_keeps_no_more_than_at_an_earlier_one(
    zone: str, treated: datetime, earlier: timedelta, later: timedelta
) -> None:
    """What a (re-)plan keeps is monotone in "now": a clock set back keeps at least what the
    true clock would (nothing is lost by a backward jump), a clock run ahead keeps what is
    still worth sending, and never more than one late occurrence of a collapsing step."""
    spec = bundled_protocol()
    planned = plan(spec, treated, Preferences(timezone=zone))
    at_earlier = still_worth_sending(spec, planned, treated + earlier)
    at_later = still_worth_sending(spec, planned, treated + earlier + later)
    assert set(at_later) <= set(at_earlier)
    for now, kept in ((treated + earlier, at_earlier), (treated + earlier + later, at_later)):
        assert [r for r in planned if r.due_at > now] == [r for r in kept if r.due_at > now]
        late = Counter(r.step_id for r in kept if r.due_at <= now)
        for step_id, count in late.items():
            if spec.step(step_id).late.policy.value == "collapse":
                assert count == 1, step_id


# --- the host's timezone is not UTC --------------------------------------------------------


def _plan_json(host_zone: str, *args: str) -> list[dict[str, str]]:
    env = {**os.environ, "TZ": host_zone}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "plan", "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, str]] = json.loads(result.stdout)
    return rows


@pytest.mark.parametrize(
    ("treated", "patient_zone"),
    [("2026-03-07T22:30", "America/New_York"), ("2026-03-28T10:00", "Europe/London")],
)
def test_aftercare_plan_prints_the_same_plan_whatever_the_hosts_timezone(
    treated: str, patient_zone: str
) -> None:
    plans = {
        zone: _plan_json(zone, "--treated", treated, "--tz", patient_zone) for zone in HOST_ZONES
    }
    assert plans["UTC"]
    assert plans["Pacific/Chatham"] == plans["UTC"]
    assert plans["America/St_Johns"] == plans["UTC"]
    first = datetime.fromisoformat(plans["UTC"][0]["due_local"])
    assert first.utcoffset() == first.astimezone(ZoneInfo(patient_zone)).utcoffset()


async def test_an_in_process_daemon_on_an_odd_host_zone_plans_as_on_utc(
    tmp_path: Path,
) -> None:
    """The same enrolment on hosts in UTC, Chatham and St John's plans identical rows."""
    plans = {}
    for zone in HOST_ZONES:
        saved = os.environ.get("TZ")
        os.environ["TZ"] = zone
        time_module.tzset()
        try:
            folder = tmp_path / zone.replace("/", "-")
            folder.mkdir()
            world = await _world(folder, START)
            try:
                planned = await _enrol(world, "America/St_Johns")
                plans[zone] = sorted(planned.items())
            finally:
                await stop_world(world)
        finally:
            if saved is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = saved
            time_module.tzset()
    assert plans["UTC"]
    assert plans["Pacific/Chatham"] == plans["UTC"]
    assert plans["America/St_Johns"] == plans["UTC"]
