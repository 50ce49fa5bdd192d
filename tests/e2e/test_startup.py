"""Starting before the Bot API is reachable: the bot waits for it instead of crashing."""

from __future__ import annotations

import asyncio
import logging

import pytest
from telegram import Bot
from telegram.error import InvalidToken, NetworkError

from bot.daemon import reach_bot_api
from bot.sandbox import Limits, Sandbox
from tests.e2e.test_cli import free_port

# They choose their own database, not the e2e worlds': the Postgres pass skips them.
pytestmark = pytest.mark.own_database

TOKEN = "123456:TEST-token-for-startup"


class RetrySeen(logging.Handler):
    """Sets an event when the daemon logs that it will retry."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            self.seen.set()


async def test_the_bot_waits_for_a_bot_api_that_comes_up_later() -> None:
    retry = RetrySeen()
    logging.getLogger("bot.daemon").addHandler(retry)
    port = free_port()
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot")
    reaching = asyncio.create_task(reach_bot_api(bot, patience=60))
    try:
        await asyncio.wait_for(retry.seen.wait(), timeout=10)  # the first attempt failed
    finally:
        logging.getLogger("bot.daemon").removeHandler(retry)
    box = Sandbox(limits=Limits.off())
    await box.start(port=port)
    try:
        await asyncio.wait_for(reaching, timeout=30)
        assert bot.username  # getMe was answered
    finally:
        await bot.shutdown()
        await box.stop()


async def test_an_unreachable_bot_api_fails_once_patience_runs_out() -> None:
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{free_port()}/bot")
    try:
        with pytest.raises(NetworkError):
            await reach_bot_api(bot, patience=0)
    finally:
        await bot.shutdown()


async def test_a_rejected_token_is_not_retried() -> None:
    async with Sandbox(limits=Limits.off()) as box:
        bot = Bot("123456:not.a.token", base_url=box.base_url)
        try:
            with pytest.raises(InvalidToken):
                await asyncio.wait_for(reach_bot_api(bot, patience=60), timeout=5)
        finally:
            await bot.shutdown()
