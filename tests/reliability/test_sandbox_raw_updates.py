"""``Sandbox.push_raw_update``: any update, as given, with the sandbox's update_id; the chat
it names becomes one the bot can answer in; a raw press can be answered once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot
from telegram.error import BadRequest

from bot.sandbox.server import Sandbox
from bot.sandbox.state import ControlError

TOKEN = "123456:TEST-TOKEN-for-the-sandbox"
CHANNEL_ID = -1_009_999_999_999
CHANNEL: dict[str, Any] = {"id": CHANNEL_ID, "type": "channel", "title": "News"}


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as started:
        yield started


@pytest.fixture
async def bot(sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=sandbox.base_url) as client:
        yield client


def _post(text: str) -> dict[str, Any]:
    return {"message_id": 5, "date": 1, "chat": CHANNEL, "sender_chat": CHANNEL, "text": text}


async def test_a_raw_update_reaches_the_bot_as_given_with_the_next_update_id(
    sandbox: Sandbox, bot: Bot
) -> None:
    sandbox.user_sends_text(7, "hi")
    queued = sandbox.push_raw_update({"channel_post": _post("‮ news \u0000")})
    assert queued["update_id"] == 2
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [1, 2]
    post = updates[1].channel_post
    assert post is not None
    assert post.text == "‮ news \u0000"
    assert post.chat.type == "channel"


async def test_the_bot_can_answer_in_the_chat_a_raw_update_names(
    sandbox: Sandbox, bot: Bot
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(CHANNEL_ID, "before")
    sandbox.push_raw_update({"channel_post": _post("news")})
    await bot.send_message(CHANNEL_ID, "after")
    assert [e.text for e in sandbox.bot_messages(CHANNEL_ID)] == ["after"]
    sent = await bot.send_message(CHANNEL_ID, "again")
    assert sent.chat.type == "channel"


async def test_a_raw_press_is_answered_once_even_without_a_message(
    sandbox: Sandbox, bot: Bot
) -> None:
    user = {"id": 42, "is_bot": False, "first_name": "Sam"}
    query = {"id": "q1", "from": user, "chat_instance": "1", "inline_message_id": "x", "data": "d"}
    sandbox.push_raw_update({"callback_query": query})
    assert await bot.answer_callback_query("q1", text="ok")
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("q1")
    answers = [e for e in sandbox.transcript(42) if e.kind == "callback_answer"]
    assert [a.text for a in answers] == ["ok"]


@pytest.mark.parametrize(
    ("update", "problem"),
    [
        ({"update_id": 9, "message": {}}, "leave update_id out"),
        ({}, "exactly one field"),
        ({"message": {}, "poll": {}}, "exactly one field"),
        ({"message": {"x": float("nan")}}, "not JSON"),
        ({"message": {"x": object()}}, "not JSON"),
    ],
)
def test_a_raw_update_that_is_no_update_is_refused(update: dict[str, Any], problem: str) -> None:
    sandbox = Sandbox()
    with pytest.raises(ControlError, match=problem):
        sandbox.push_raw_update(update)
    assert sandbox.pending_updates() == []


async def test_a_raw_update_can_be_pushed_over_the_control_api(sandbox: Sandbox, bot: Bot) -> None:
    control = sandbox.base_url.rsplit("/bot", 1)[0] + "/control/updates"
    async with aiohttp.ClientSession() as http:
        async with http.post(control, json={"channel_post": _post("news")}) as answer:
            body = await answer.json()
        assert answer.status == 200
        assert body["result"]["update_id"] == 1
        async with http.post(control, json={"update_id": 3, "message": {}}) as refused:
            assert refused.status == 400
            assert "update_id" in (await refused.json())["description"]
    updates = await bot.get_updates(timeout=0)
    assert [u.channel_post.text for u in updates if u.channel_post] == ["news"]
