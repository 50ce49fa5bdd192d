"""The outbound path over real HTTP: a PTB Bot talking to the sandbox, every answer classified,
and Telegram's limits kept when many sends race."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import InvalidToken
from telegram.request import HTTPXRequest

from bot.pacing import Pacer
from bot.sandbox import Limits, Sandbox
from bot.sender import TelegramSender
from schedules.clock import FastClock, FixedClock
from schedules.outbound import (
    Button,
    Outbound,
    RateLimited,
    Rejected,
    Sent,
    Transient,
    Unreachable,
)

# The sender alone, no database: the Postgres pass of the e2e worlds skips it.
pytestmark = pytest.mark.own_database

TOKEN = "123456:TEST-token-for-the-sender"
START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
PAT = 4242
OTHER = 4343


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
async def sandbox(clock: FixedClock) -> AsyncIterator[Sandbox]:
    async with Sandbox(limits=Limits.off(), monotonic=clock.monotonic, now=clock.now) as box:
        box.user_sends_text(PAT, "/start")
        box.user_sends_text(OTHER, "/start")
        yield box


@pytest.fixture
async def bot(sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=sandbox.base_url) as client:
        yield client


@pytest.fixture
def pacer(clock: FixedClock) -> Pacer:
    return Pacer(clock, per_second=25)


@pytest.fixture
def sender(bot: Bot, pacer: Pacer) -> TelegramSender:
    return TelegramSender(bot, pacer)


def hello(chat_id: int = PAT, text: str = "Time for your check-in") -> Outbound:
    return Outbound(chat_id=chat_id, text=text)


@asynccontextmanager
async def bot_with(base_url: str, token: str = TOKEN, **timeouts: Any) -> AsyncIterator[Bot]:
    """A Bot with its own request settings, used without ``initialize`` (no getMe first)."""
    request = HTTPXRequest(**timeouts)
    await request.initialize()
    try:
        yield Bot(token, base_url=base_url, request=request)
    finally:
        await request.shutdown()


# -- sent ----------------------------------------------------------------------------------------


async def test_it_reports_sent_with_the_message_id_telegram_gave(
    sender: TelegramSender, sandbox: Sandbox
) -> None:
    first = await sender.send(hello(text="one"))
    second = await sender.send(hello(text="two"))
    delivered = sandbox.bot_messages(PAT)
    assert [e.text for e in delivered] == ["one", "two"]
    assert [first, second] == [Sent(message_id=e.message_id or -1) for e in delivered]
    assert first != second


async def test_inline_buttons_arrive_in_the_transcript(
    sender: TelegramSender, sandbox: Sandbox
) -> None:
    buttons = (
        (Button("Fine", "checkin:fine"), Button("Worse", "checkin:worse")),
        (Button("Call me", "checkin:call"),),
    )
    outcome = await sender.send(Outbound(chat_id=PAT, text="How is your skin?", buttons=buttons))
    assert isinstance(outcome, Sent)
    [entry] = sandbox.bot_messages(PAT)
    assert entry.message_id == outcome.message_id
    assert entry.buttons == (
        (("Fine", "checkin:fine"), ("Worse", "checkin:worse")),
        (("Call me", "checkin:call"),),
    )


# -- 429 -----------------------------------------------------------------------------------------


async def test_429_is_rate_limited_and_pauses_every_chat(
    sender: TelegramSender, sandbox: Sandbox, clock: FixedClock
) -> None:
    sandbox.inject_fault(kind="429", retry_after=7)
    outcome = await sender.send(hello())
    assert outcome == RateLimited(retry_after=7.0)
    assert sandbox.bot_messages(PAT) == []
    # Another chat's message waits out the pause too, then goes.
    paused_at = clock.monotonic()
    assert isinstance(await sender.send(hello(chat_id=OTHER)), Sent)
    assert clock.monotonic() - paused_at >= 7.0
    [entry] = sandbox.bot_messages(OTHER)
    assert (entry.date - START).total_seconds() >= 7.0


# -- the chat is gone ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    [
        "Forbidden: bot was blocked by the user",
        "Forbidden: user is deactivated",
        "Forbidden: bot can't initiate conversation with a user",
    ],
)
async def test_403_is_unreachable(
    sender: TelegramSender, sandbox: Sandbox, description: str
) -> None:
    sandbox.inject_fault(kind="403", description=description)
    assert isinstance(await sender.send(hello()), Unreachable)


async def test_a_user_who_blocked_the_bot_is_unreachable(
    sender: TelegramSender, sandbox: Sandbox
) -> None:
    sandbox.user_blocks_bot(PAT)
    assert isinstance(await sender.send(hello()), Unreachable)
    assert sandbox.bot_messages(PAT) == []


async def test_a_chat_that_never_wrote_is_unreachable(
    sender: TelegramSender, sandbox: Sandbox
) -> None:
    stranger = 777
    assert isinstance(await sender.send(hello(chat_id=stranger)), Unreachable)
    assert isinstance(await sender.send(hello()), Sent)  # the others go on


async def test_a_group_that_became_a_supergroup_is_unreachable_with_its_new_id(
    pacer: Pacer,
) -> None:
    # The sandbox speaks to private chats only, so a bare answerer plays Telegram here.
    async def migrated(request: web.Request) -> web.Response:
        body = {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": -1001234567890},
        }
        return web.json_response(body, status=400)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", migrated)
    with listening_socket() as sock:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/bot"
            async with bot_with(url) as bot:
                outcome = await TelegramSender(bot, pacer).send(hello(chat_id=-4711))
        finally:
            await runner.cleanup()
    assert outcome == Unreachable(reason="chat migrated to -1001234567890")


# -- Telegram refused this message ---------------------------------------------------------------


async def test_other_400_is_rejected_with_telegrams_reason(
    sender: TelegramSender, sandbox: Sandbox
) -> None:
    sandbox.inject_fault(kind="400", description="Bad Request: BUTTON_DATA_INVALID")
    outcome = await sender.send(hello())
    assert isinstance(outcome, Rejected)
    assert outcome.reason.lower() == "button_data_invalid"  # PTB recapitalises the words
    assert sandbox.bot_messages(PAT) == []


async def test_a_message_telegram_finds_too_long_is_rejected_not_unreachable(
    sender: TelegramSender,
) -> None:
    outcome = await sender.send(hello(text="x" * 5000))
    assert isinstance(outcome, Rejected)
    assert "too long" in outcome.reason


# -- try again later -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "502"])
async def test_server_errors_are_transient_and_not_sent(
    sender: TelegramSender, sandbox: Sandbox, kind: Literal["500", "502"]
) -> None:
    sandbox.inject_fault(kind=kind)
    outcome = await sender.send(hello())
    assert isinstance(outcome, Transient)
    assert outcome.maybe_sent is False
    assert sandbox.bot_messages(PAT) == []


async def test_a_connection_closed_before_the_answer_is_transient_and_maybe_sent(
    sender: TelegramSender, sandbox: Sandbox
) -> None:
    # The request had left: Telegram may have acted on it, as after a read timeout.
    sandbox.inject_fault(kind="drop")
    outcome = await sender.send(hello())
    assert isinstance(outcome, Transient)
    assert outcome.maybe_sent is True
    assert isinstance(await sender.send(hello()), Sent)  # the next try goes through


async def test_an_answer_later_than_the_read_timeout_is_maybe_sent(
    sandbox: Sandbox, pacer: Pacer
) -> None:
    sandbox.inject_fault(kind="delay", delay=30.0)  # cut short when the sandbox stops
    async with bot_with(sandbox.base_url, read_timeout=0.2) as bot:
        outcome = await TelegramSender(bot, pacer).send(hello())
    assert isinstance(outcome, Transient)
    assert outcome.maybe_sent is True


async def test_waiting_for_a_free_connection_too_long_is_not_sent(
    sandbox: Sandbox, pacer: Pacer
) -> None:
    # One connection, held by a request Telegram answers late: the second never leaves.
    sandbox.inject_fault(kind="delay", delay=30.0, chat_id=PAT)
    async with bot_with(
        sandbox.base_url, connection_pool_size=1, pool_timeout=0.05, read_timeout=1.0
    ) as bot:
        sender = TelegramSender(bot, pacer)
        slow, starved = await asyncio.gather(sender.send(hello()), sender.send(hello(OTHER)))
    assert isinstance(slow, Transient)
    assert slow.maybe_sent is True
    assert isinstance(starved, Transient)
    assert starved.maybe_sent is False


async def test_a_refused_connection_is_transient_and_not_sent(pacer: Pacer) -> None:
    with listening_socket() as sock:
        port = sock.getsockname()[1]
    # The socket is closed now: nothing listens on the port, connecting is refused.
    async with bot_with(f"http://127.0.0.1:{port}/bot") as bot:
        outcome = await TelegramSender(bot, pacer).send(hello())
    assert isinstance(outcome, Transient)
    assert outcome.maybe_sent is False


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full queue")
async def test_a_connect_timeout_is_transient_and_not_sent(pacer: Pacer) -> None:
    # A listener that never accepts, its queue full: the next connect hangs until its timeout.
    with listening_socket(backlog=0) as sock, queue_filled(sock.getsockname()[1]):
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/bot"
        async with bot_with(url, connect_timeout=0.1) as bot:
            outcome = await TelegramSender(bot, pacer).send(hello())
    assert isinstance(outcome, Transient)
    assert outcome.maybe_sent is False


async def test_a_wrong_token_is_raised_not_blamed_on_the_patient(
    sandbox: Sandbox, pacer: Pacer
) -> None:
    async with bot_with(sandbox.base_url, token="123456:not.a.token") as bot:
        with pytest.raises(InvalidToken):
            await TelegramSender(bot, pacer).send(hello())


# -- Telegram's limits ---------------------------------------------------------------------------

SPEED = 20.0  # a second of Telegram's limits passes in 50 real milliseconds


@asynccontextmanager
async def fast_world(chats: int) -> AsyncIterator[tuple[Sandbox, Bot, FastClock]]:
    """A sandbox with Telegram's limits on, sharing one fast clock with whoever paces."""
    clock = FastClock(START, SPEED)
    async with Sandbox(limits=Limits(), monotonic=clock.monotonic, now=clock.now) as box:
        for chat in range(1, chats + 1):
            box.user_sends_text(chat, "/start")
        async with Bot(TOKEN, base_url=box.base_url) as bot:
            yield box, bot, clock


def race() -> list[Outbound]:
    """60 messages to one chat and 100 to fifty others, all handed over at once."""
    busy = [Outbound(1, f"step {n}") for n in range(60)]
    spread = [Outbound(2 + n % 50, f"hello {n}") for n in range(100)]
    return busy + spread


async def test_racing_sends_keep_telegrams_limits_and_all_arrive() -> None:
    async with fast_world(chats=51) as (box, bot, clock):
        sender = TelegramSender(bot, Pacer(clock, per_second=25))
        outcomes = await asyncio.gather(*(sender.send(m) for m in race()))
        assert box.stats()["too_many_requests"] == 0
        assert all(isinstance(o, Sent) for o in outcomes)
        assert [e.text for e in box.bot_messages(1)] == [f"step {n}" for n in range(60)]
        assert all(len(box.bot_messages(chat)) == 2 for chat in range(2, 52))


async def test_the_sandbox_would_have_refused_them_unpaced() -> None:
    # The same race without the limits kept: Telegram's 429s are real here, so the zero above
    # is the pacer's doing.
    async with fast_world(chats=51) as (box, bot, clock):
        sender = TelegramSender(bot, Pacer(clock, per_second=1_000_000, per_chat_interval=0))
        outcomes = await asyncio.gather(*(sender.send(m) for m in race()))
        limited = sum(1 for o in outcomes if isinstance(o, RateLimited))
        assert limited > 0
        assert box.stats()["too_many_requests"] == limited


# -- sockets for the network failures ------------------------------------------------------------


@contextmanager
def listening_socket(backlog: int = 16) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(backlog)
        yield sock
    finally:
        sock.close()


@contextmanager
def queue_filled(port: int) -> Iterator[None]:
    """Connect (without waiting) until the listener's accept queue is full."""
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            fillers.append(filler)
            filler.connect_ex(("127.0.0.1", port))
        yield
    finally:
        for filler in fillers:
            filler.close()
