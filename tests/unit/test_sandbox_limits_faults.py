"""Rate limits and injected faults, seen through a real PTB Bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.sandbox import Limits, Sandbox
from bot.sandbox.limits import RateLimiter

TOKEN = "123456:TEST-token"
PAT = 42


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[Sandbox]:
    box = Sandbox(monotonic=clock)
    await box.start()
    yield box
    await box.stop()


@pytest.fixture
async def bot(sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=sandbox.base_url) as client:
        yield client


async def test_fourth_rapid_send_to_a_chat_is_rate_limited(
    sandbox: Sandbox, bot: Bot, clock: FakeClock
) -> None:
    sandbox.user_sends_text(PAT, "/start")
    outcomes: list[str] = []
    waits: list[float] = []
    for n in range(5):
        try:
            await bot.send_message(PAT, f"msg {n}")
            outcomes.append("sent")
        except RetryAfter as error:
            outcomes.append("429")
            waits.append(error.retry_after.total_seconds())  # type: ignore[union-attr]
    assert outcomes == ["sent", "sent", "sent", "429", "429"]
    assert waits == [1.0, 1.0]
    assert sandbox.stats()["too_many_requests"] == 2
    clock.now += 1.0
    assert (await bot.send_message(PAT, "after a second")).text == "after a second"
    assert len(sandbox.bot_messages(PAT)) == 4


async def test_edits_and_callback_answers_are_exempt(
    sandbox: Sandbox, bot: Bot, clock: FakeClock
) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sent = [await bot.send_message(PAT, f"m{n}") for n in range(3)]
    for n in range(5):
        await bot.edit_message_text(f"edit {n}", chat_id=PAT, message_id=sent[0].message_id)
    with pytest.raises(RetryAfter):
        await bot.send_message(PAT, "one too many")


async def test_per_bot_limit_of_thirty_a_second(sandbox: Sandbox, bot: Bot) -> None:
    users = list(range(1, 12))
    for user in users:
        sandbox.user_sends_text(user, "/start")
    for user in users[:10]:
        for _ in range(3):
            await bot.send_message(user, "hello")
    with pytest.raises(RetryAfter):
        await bot.send_message(users[10], "the 31st message this second")
    assert sandbox.bot_messages(users[10]) == []


async def test_limits_can_be_switched_off() -> None:
    async with Sandbox(limits=Limits.off()) as box, Bot(TOKEN, base_url=box.base_url) as client:
        box.user_sends_text(PAT, "/start")
        for n in range(10):
            await client.send_message(PAT, f"m{n}")
        assert len(box.bot_messages(PAT)) == 10


def test_token_bucket_refills_at_one_message_a_second(clock: FakeClock) -> None:
    limiter = RateLimiter(Limits(), monotonic=clock)
    for _ in range(3):
        assert limiter.retry_after(PAT) is None
        limiter.record(PAT)
    assert limiter.retry_after(PAT) == 1
    assert limiter.retry_after(PAT + 1) is None  # other chats have their own bucket
    clock.now += 0.5
    assert limiter.retry_after(PAT) == 1
    clock.now += 0.5
    assert limiter.retry_after(PAT) is None


async def test_fault_429_carries_retry_after(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sandbox.inject_fault("sendMessage", "429", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(PAT, "x")
    assert caught.value.retry_after.total_seconds() == 7  # type: ignore[union-attr]
    assert (await bot.send_message(PAT, "next one works")).text == "next one works"
    stats = sandbox.stats()
    assert stats["too_many_requests"] == 1
    assert stats["faults_fired"] == 1
    assert stats["requests"]["sendMessage"] == 2


async def test_fault_403_is_forbidden(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sandbox.inject_fault(kind="403")
    with pytest.raises(Forbidden, match=r"(?i)blocked by the user"):
        await bot.send_message(PAT, "x")


@pytest.mark.parametrize("kind", ["500", "502"])
async def test_server_errors_are_network_errors(sandbox: Sandbox, bot: Bot, kind: str) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sandbox.inject_fault(kind=kind)  # type: ignore[arg-type]
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(PAT, "x")
    assert not isinstance(caught.value, BadRequest | Forbidden)
    assert sandbox.bot_messages(PAT) == []


async def test_fault_400_with_custom_description(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sandbox.inject_fault(kind="400", description="Bad Request: can't parse entities: boom")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: boom"):
        await bot.send_message(PAT, "x")


async def test_drop_closes_the_connection(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sandbox.inject_fault(kind="drop")
    with pytest.raises(NetworkError):
        await bot.send_message(PAT, "x")
    assert sandbox.bot_messages(PAT) == []
    assert (await bot.send_message(PAT, "retry")).text == "retry"


async def test_delay_answers_late_but_answers(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sandbox.inject_fault(kind="delay", delay=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = await bot.send_message(PAT, "slow")
    assert loop.time() - started >= 0.3
    assert sent.text == "slow"


async def test_fault_scoped_to_one_chat_and_count(sandbox: Sandbox, bot: Bot) -> None:
    for user in (1, 2):
        sandbox.user_sends_text(user, "/start")
    sandbox.inject_fault(kind="403", chat_id=2, count=2)
    assert await bot.send_message(1, "fine")
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(2, "x")
    assert await bot.send_message(2, "fine again")


async def test_clear_faults_and_unlimited_count(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sandbox.inject_fault("*", "502", count=None)
    for _ in range(3):
        with pytest.raises(NetworkError):
            await bot.get_me()
    sandbox.clear_faults()
    assert (await bot.get_me()).id == 123456


def test_bad_fault_arguments_are_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="kind"):
        sandbox.inject_fault(kind="418")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        sandbox.inject_fault(count=0)
