"""The dispatcher as the daemon builds it (``Daemon._build_dispatcher``), on a given database
and Bot API, with the catalog's bundled protocol published."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from telegram import Bot

from bot.compose import compose
from bot.http import bot_request
from bot.pacing import Pacer
from bot.sender import TelegramSender
from bot.settings import Settings
from schedules.catalog import ProtocolCatalog
from schedules.clock import Clock
from schedules.db import SessionFactory, make_engine, session_factory
from schedules.dispatcher import DispatchConfig, Dispatcher
from schedules.protocol import bundled_protocol

UNPACED = 1e9  # messages a second: a pacer budget nothing reaches, for "limits off"


@dataclass
class Wired:
    sessions: SessionFactory
    catalog: ProtocolCatalog
    protocol_id: int
    dispatcher: Dispatcher


@asynccontextmanager
async def wired_dispatcher(
    url: str, clock: Clock, base_url: str, token: str, *, per_second: float
) -> AsyncIterator[Wired]:
    """A real Dispatcher with TelegramSender, PTB Bot and Pacer, the daemon's settings."""
    settings = Settings(database_url=url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    catalog = ProtocolCatalog(sessions, clock)
    protocol = await catalog.publish(bundled_protocol(settings.protocol))
    assert protocol.id is not None
    bot = Bot(
        token,
        base_url=base_url,
        request=bot_request(settings.send_window + 2),
        get_updates_request=bot_request(),
    )
    await bot.initialize()
    pacer = Pacer(clock, per_second=per_second)
    config = DispatchConfig(
        worker=f"bench-{os.getpid()}-{secrets.token_hex(2)}",
        batch=settings.dispatch_batch,
        lease=timedelta(seconds=settings.claim_lease_seconds),
        max_attempts=settings.max_send_attempts,
        window=settings.send_window,
    )
    dispatcher = Dispatcher(sessions, clock, TelegramSender(bot, pacer), compose, catalog, config)
    try:
        yield Wired(sessions, catalog, protocol.id, dispatcher)
    finally:
        await bot.shutdown()
        await engine.dispose()
