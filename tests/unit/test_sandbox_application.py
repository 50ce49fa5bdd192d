"""A whole PTB Application polling the sandbox: handlers, buttons and a clean shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.sandbox import Limits, Sandbox, serve_forever

TOKEN = "123456:TEST-token"
PAT = 42


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    payload = " ".join(context.args or [])
    button = InlineKeyboardButton("I'm fine", callback_data="fine")
    await context.bot.send_message(
        update.effective_chat.id,
        f"Welcome ({payload or 'no payload'})",
        reply_markup=InlineKeyboardMarkup([[button]]),
    )


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("Thanks")
    await query.edit_message_text(f"You said: {query.data}")


async def test_application_handles_deep_link_and_button() -> None:
    async with Sandbox(limits=Limits.off()) as sandbox:
        app = Application.builder().token(TOKEN).base_url(sandbox.base_url).build()
        app.add_handler(CommandHandler("start", start))
        app.add_handler(CallbackQueryHandler(pressed))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=10)
            try:
                sandbox.user_sends_text(PAT, "/start clinic-7")
                [welcome] = await sandbox.wait_for_bot_messages(PAT, 1)
                assert welcome.text == "Welcome (clinic-7)"
                sandbox.user_presses_button(PAT, label="I'm fine")
                await sandbox.wait_for(
                    lambda: sandbox.bot_messages(PAT)[0].text == "You said: fine"
                )
                kinds = [(e.who, e.kind, e.text) for e in sandbox.transcript(PAT)]
                assert ("bot", "callback_answer", "Thanks") in kinds
                assert sandbox.bot_messages(PAT)[0].buttons == ()
            finally:
                await app.updater.stop()
                await app.stop()
        assert sandbox.stats()["requests"]["getUpdates"] >= 2


async def test_serve_forever_serves_until_cancelled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.sandbox.server")
    started: asyncio.Future[Sandbox] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_forever("127.0.0.1", 0, Limits.off(), on_start=started.set_result)
    )
    sandbox = await asyncio.wait_for(started, 10)
    async with Bot(TOKEN, base_url=sandbox.base_url) as bot:
        assert (await bot.get_me()).username == "aftercare_sandbox_bot"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [line] = [r.getMessage() for r in caplog.records if "listening" in r.getMessage()]
    assert sandbox.base_url in line
    assert TOKEN not in caplog.text


async def test_sandbox_can_restart_after_stop() -> None:
    sandbox = Sandbox()
    await sandbox.start()
    await sandbox.stop()
    await sandbox.start()
    try:
        async with Bot(TOKEN, base_url=sandbox.base_url) as bot:
            poll = asyncio.create_task(bot.get_updates(timeout=30, read_timeout=40))
            await sandbox.wait_for(lambda: sandbox.long_polls_waiting == 1)
            sandbox.user_sends_text(PAT, "still here")
            updates = await asyncio.wait_for(poll, 10)
            assert len(updates) == 1
    finally:
        await sandbox.stop()
