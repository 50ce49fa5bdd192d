"""The pacer keeps Telegram's limits on the injected clock: a budget per bot, a gap per chat,
and a pause after a 429, whatever order the sends arrive in and however late they wake.

All on a FixedClock: a send that has to wait moves the clock itself, so every test runs in no
real time and every timestamp below is exact."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pacing import Pacer
from schedules.clock import FixedClock
from schedules.outbound import BULK_SHARE, Lane

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
EPSILON = 1e-9  # float sums of 1/25 s steps may land a hair short of a whole second


def most_in_one_second(times: list[float]) -> int:
    """The largest number of ``times`` inside any window (t - 1 s, t], as Telegram counts.

    At ``per_second`` sends a second, spaced evenly, that is ``ceil(per_second)``."""
    ordered = sorted(times)
    return max(
        (sum(1 for u in ordered if t - 1.0 + EPSILON < u <= t) for t in ordered),
        default=0,
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


# -- reserve: booking slots ahead --------------------------------------------------------------


def test_reservations_for_one_chat_are_a_second_apart(clock: FixedClock) -> None:
    pacer = Pacer(clock, per_second=25)
    starts = [pacer.reserve(7) for _ in range(5)]
    assert starts == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])


def test_reservations_for_many_chats_share_the_bot_budget(clock: FixedClock) -> None:
    pacer = Pacer(clock, per_second=25)
    starts = [pacer.reserve(chat) for chat in range(60)]
    assert starts == pytest.approx([n / 25 for n in range(60)])
    assert most_in_one_second(starts) == 25


def test_a_pause_holds_every_chat_until_it_is_over(clock: FixedClock) -> None:
    pacer = Pacer(clock, per_second=25)
    assert pacer.reserve(1) == 0.0
    pacer.pause(7.0)
    pacer.pause(2.0)  # a shorter pause later never shortens the one running
    assert pacer.reserve(1) == pytest.approx(7.0)
    assert pacer.reserve(2) >= 7.0  # a chat that never sent waits too
    clock.advance(timedelta(seconds=10))
    assert pacer.reserve(3) == 0.0


chat_ids = st.integers(min_value=1, max_value=6)
advances = st.floats(min_value=0.0, max_value=1.5, allow_nan=False)
budgets = st.sampled_from([1.0, 2.5, 25.0, 30.0])


@given(st.lists(st.tuples(chat_ids, advances), max_size=120), budgets)
def test_reservations_never_break_either_limit(
    plan: list[tuple[int, float]], per_second: float
) -> None:
    clock = FixedClock(START)
    pacer = Pacer(clock, per_second=per_second, memory=2)  # tiny memory: pruning runs often
    by_chat: dict[int, list[float]] = defaultdict(list)
    starts: list[float] = []
    for chat, advance in plan:
        clock.advance(timedelta(seconds=advance))
        wait = pacer.reserve(chat)
        assert wait >= 0.0
        start = clock.monotonic() + wait
        by_chat[chat].append(start)
        starts.append(start)
    for times in by_chat.values():
        assert all(b - a >= 1.0 - EPSILON for a, b in itertools.pairwise(times))
    assert most_in_one_second(starts) <= math.ceil(per_second)


def test_chats_whose_slot_has_passed_are_forgotten(clock: FixedClock) -> None:
    pacer = Pacer(clock, per_second=1000, memory=50)
    for chat in range(5_000):
        pacer.reserve(chat)
        clock.advance(timedelta(milliseconds=10))  # 100 new chats a second, each gone after 1 s
    assert pacer.chats_remembered <= 300
    # A forgotten chat sends at once, as a new one would; one still remembered waits its gap.
    assert pacer.reserve(0) == 0.0
    assert pacer.reserve(4_999) > 0.5


# -- wait_turn / turn: sending now -------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    chat: int
    latency: float  # simulated seconds until Telegram's answer
    retry_after: float | None  # the answer was a 429 asking for this pause


@dataclass(frozen=True)
class Stall:
    yields: int  # how many event-loop turns until the process stalls
    seconds: float  # how long it stalls: every sleeper wakes that much later


@dataclass
class Log:
    grants: list[tuple[int, float]]
    answers: list[tuple[int, float]]
    pauses: list[tuple[int, float, float]]  # (grants so far, when, how long)


async def send(pacer: Pacer, clock: FixedClock, log: Log, order: int, item: Send) -> None:
    async with pacer.turn(item.chat):
        log.grants.append((order, clock.monotonic()))
        if item.latency:
            clock.advance(timedelta(seconds=item.latency))
        await asyncio.sleep(0)
        log.answers.append((order, clock.monotonic()))
        if item.retry_after is not None:
            pacer.pause(item.retry_after)
            log.pauses.append((len(log.grants), clock.monotonic(), item.retry_after))


async def stall(clock: FixedClock, item: Stall) -> None:
    for _ in range(item.yields):
        await asyncio.sleep(0)
    clock.advance(timedelta(seconds=item.seconds))


async def play(plan: Sequence[Send | Stall], per_second: float, memory: int = 10_000) -> Log:
    clock = FixedClock(START)
    pacer = Pacer(clock, per_second=per_second, memory=memory)
    log = Log([], [], [])
    runs = [
        send(pacer, clock, log, n, item) if isinstance(item, Send) else stall(clock, item)
        for n, item in enumerate(plan)
    ]
    async with asyncio.timeout(10):  # a guard against a deadlock, never reached when it works
        await asyncio.gather(*runs)
    return log


sends = st.builds(
    Send,
    chat=chat_ids,
    latency=st.floats(min_value=0.0, max_value=2.0, allow_nan=False),
    retry_after=st.one_of(st.none(), st.none(), st.none(), st.floats(min_value=0.5, max_value=5)),
)
stalls = st.builds(
    Stall,
    yields=st.integers(min_value=0, max_value=30),
    seconds=st.floats(min_value=0.0, max_value=4.0, allow_nan=False),
)


@settings(deadline=None)
@given(st.lists(st.one_of(sends, sends, stalls), max_size=60), budgets)
def test_turns_keep_every_limit_whatever_the_timing(
    plan: list[Send | Stall], per_second: float
) -> None:
    log = asyncio.run(play(plan, per_second, memory=3))
    mine = [n for n, item in enumerate(plan) if isinstance(item, Send)]
    assert sorted(n for n, _ in log.grants) == mine  # every send got its turn

    # The bot's budget, counted when the sends really went (stalls included).
    assert most_in_one_second([t for _, t in log.grants]) <= math.ceil(per_second)

    # Per chat: in the order asked, and the next only a second after the previous answer.
    granted, answered = dict(log.grants), dict(log.answers)
    by_chat: dict[int, list[int]] = defaultdict(list)
    for n, _ in log.grants:
        item = plan[n]
        assert isinstance(item, Send)
        by_chat[item.chat].append(n)
    for order in by_chat.values():
        assert order == sorted(order)
        for before, after in itertools.pairwise(order):
            assert granted[after] >= answered[before] + 1.0 - EPSILON

    # After a 429, nobody went before the pause was over.
    for seen, when, seconds in log.pauses:
        assert all(t >= when + seconds - EPSILON for _, t in log.grants[seen:])


async def test_a_busy_chat_does_not_hold_up_the_others(clock: FixedClock) -> None:
    log = await play([Send(1, 0.0, None)] * 5 + [Send(2, 0.0, None)], per_second=25)
    went = dict(log.grants)
    assert all(went[n + 1] - went[n] >= 1.0 for n in range(4))
    assert went[5] < went[1]  # chat 2 goes while chat 1 waits its gap, not after its queue


async def test_sends_that_wake_late_leave_spaced_not_in_a_bunch() -> None:
    # Ten chats queue up; the process stalls for three seconds while they wait.
    plan: list[Send | Stall] = [Send(chat, 0.0, None) for chat in range(10)]
    plan.append(Stall(yields=2, seconds=3.0))
    log = await play(plan, per_second=25)
    times = sorted(t for _, t in log.grants)
    assert times[-1] >= 3.0  # the stall did delay them
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / 25 - EPSILON


async def test_a_chat_waits_a_second_from_the_answer_not_from_the_request(
    clock: FixedClock,
) -> None:
    log = await play([Send(1, 2.5, None), Send(1, 0.0, None)], per_second=25)
    assert dict(log.answers)[0] == pytest.approx(2.5)
    assert dict(log.grants)[1] == pytest.approx(3.5)


async def test_a_429_stops_the_sends_already_waiting(clock: FixedClock) -> None:
    plan: list[Send | Stall] = [Send(1, 0.0, retry_after=7.0), Send(2, 0.0, None)]
    plan += [Send(chat, 0.0, None) for chat in range(3, 8)]
    log = await play(plan, per_second=25)
    went = dict(log.grants)
    assert went[0] == 0.0
    assert min(went[n] for n in range(1, 7)) >= 7.0


async def test_a_failed_send_frees_the_chat_and_counts_its_gap(clock: FixedClock) -> None:
    pacer = Pacer(clock, per_second=25)

    async def broken_send() -> None:
        async with pacer.turn(1):
            clock.advance(timedelta(seconds=0.5))
            raise RuntimeError("the network broke")

    with pytest.raises(RuntimeError):
        await broken_send()
    await pacer.wait_turn(1)
    assert clock.monotonic() == pytest.approx(1.5)


async def test_wait_turn_counts_the_gap_from_the_moment_it_returns(clock: FixedClock) -> None:
    pacer = Pacer(clock, per_second=2)
    await pacer.wait_turn(1)
    await pacer.wait_turn(2)
    assert clock.monotonic() == pytest.approx(0.5)
    await pacer.wait_turn(1)
    assert clock.monotonic() == pytest.approx(1.0)


def test_a_pacer_needs_a_positive_budget(clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="per_second"):
        Pacer(clock, per_second=0)


async def test_lanes_go_in_order_and_a_broadcast_keeps_its_share(clock: FixedClock) -> None:
    pacer = Pacer(clock, per_second=10)
    order: list[Lane] = []

    async def send(chat: int, lane: Lane) -> None:
        await pacer.wait_turn(chat, lane)
        order.append(lane)

    # A broadcast asks first, then 30 care messages, then one safety answer, all at once.
    asks = [(100 + n, Lane.BULK) for n in range(30)] + [(n, Lane.CARE) for n in range(30)]
    await asyncio.gather(*(send(chat, lane) for chat, lane in [*asks, (999, Lane.SAFETY)]))
    care, bulk = Lane.CARE, Lane.BULK
    # The first broadcast send went at once and the second holds the line for its slot;
    # then the safety answer, then care with one broadcast turn in BULK_SHARE.
    share = [care] * (BULK_SHARE - 1) + [bulk]
    assert order[:3] == [bulk, bulk, Lane.SAFETY]
    assert order[3 : 3 + 3 * BULK_SHARE] == share * 3
    assert order[3 + 3 * BULK_SHARE :] == [care] * 3 + [bulk] * 25


async def test_a_reply_goes_before_reminders_already_waiting(clock: FixedClock) -> None:
    pacer = Pacer(clock, per_second=10)
    order: list[int] = []

    async def send(chat: int, lane: Lane) -> None:
        await pacer.wait_turn(chat, lane)
        order.append(chat)

    # Twenty reminders wait (a backlog); then a patient taps a button and waits for the reply.
    asks = [(n, Lane.CARE) for n in range(20)] + [(99, Lane.REPLY)]
    await asyncio.gather(*(send(chat, lane) for chat, lane in asks))
    assert order.index(99) == 2  # after the reminder sent and the one holding the line
