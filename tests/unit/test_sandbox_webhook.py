"""The sandbox delivers updates to a registered webhook, as Telegram does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, Conflict

from bot.sandbox import Limits, Sandbox

TOKEN = "123456:TEST-token"
PAT = 42
HOOK = "https://bot.example/telegram/hook"


class Receiver:
    """A plain-HTTP webhook endpoint recording what it is sent; answers ``status``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, dict[str, Any]]] = []
        self.status = 200
        self.runner: web.AppRunner | None = None
        self.origin = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.origin = f"http://127.0.0.1:{port}"

    async def handle(self, request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        self.calls.append((request.path, secret, await request.json()))
        return web.Response(status=self.status)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    box = Sandbox(limits=Limits.off())
    await box.start()
    yield box
    await box.stop()


@pytest.fixture
async def receiver(sandbox: Sandbox) -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    await endpoint.start()
    sandbox.route_webhooks(endpoint.origin)
    yield endpoint
    assert endpoint.runner is not None
    await endpoint.runner.cleanup()


@pytest.fixture
async def bot(sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=sandbox.base_url) as client:
        yield client


async def test_it_posts_each_update_with_the_secret_header(
    sandbox: Sandbox, receiver: Receiver, bot: Bot
) -> None:
    assert await bot.set_webhook(HOOK, secret_token="s3cret-Token_1")
    sent = sandbox.user_sends_text(PAT, "/start")
    sandbox.user_sends_text(PAT, "hello")
    await sandbox.wait_for(lambda: sandbox.webhook_deliveries == 2, what="two deliveries")
    assert [call[0] for call in receiver.calls] == ["/telegram/hook", "/telegram/hook"]
    assert {call[1] for call in receiver.calls} == {"s3cret-Token_1"}
    assert receiver.calls[0][2] == sent
    assert receiver.calls[1][2]["message"]["text"] == "hello"
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_it_keeps_an_update_the_webhook_refused_and_retries(
    sandbox: Sandbox, receiver: Receiver, bot: Bot
) -> None:
    receiver.status = 500
    assert await bot.set_webhook(HOOK)
    sandbox.user_sends_text(PAT, "/start")
    await sandbox.wait_for(lambda: len(receiver.calls) >= 1, what="a first attempt")
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message is not None
    assert "500" in info.last_error_message
    receiver.status = 200
    await sandbox.wait_for(lambda: sandbox.webhook_deliveries == 1, what="the retry")
    assert receiver.calls[-1][1] is None  # no secret was set: no header
    assert sandbox.pending_updates() == []


async def test_get_updates_conflicts_while_the_webhook_is_set(
    sandbox: Sandbox, receiver: Receiver, bot: Bot
) -> None:
    assert await bot.set_webhook(HOOK, secret_token="s")
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    sandbox.user_sends_text(PAT, "/start")
    updates = await bot.get_updates()
    assert len(updates) == 1
    assert receiver.calls == []


async def test_it_refuses_a_plain_http_url_and_a_bad_secret(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)https url"):
        await bot.set_webhook("http://bot.example/hook")
    with pytest.raises(BadRequest, match=r"(?i)unallowed characters"):
        await bot.set_webhook(HOOK, secret_token="not allowed!")
