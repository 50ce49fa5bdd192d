"""The sandbox as PTB sees it: a real telegram.Bot talking HTTP to a local sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
)
from telegram.error import BadRequest, Conflict, Forbidden

from bot.sandbox import ControlError, Limits, Sandbox

TOKEN = "123456:TEST-token"
PAT = 42


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    box = Sandbox(limits=Limits.off())
    await box.start()
    yield box
    await box.stop()


@pytest.fixture
async def bot(sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=sandbox.base_url) as client:
        yield client


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in pairs]])


async def test_get_me_describes_the_sandbox_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "aftercare_sandbox_bot"
    assert me.first_name == "Aftercare Sandbox"


async def test_user_command_arrives_with_bot_command_entity(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start clinic-7", first_name="Ada", language_code="de")
    updates = await bot.get_updates()
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.text == "/start clinic-7"
    assert message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    assert message.chat.id == PAT
    assert message.chat.type == "private"
    assert message.from_user is not None
    assert (message.from_user.first_name, message.from_user.language_code) == ("Ada", "de")


async def test_offset_confirms_and_drops_earlier_updates(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "one")
    sandbox.user_sends_text(PAT, "two")
    first = await bot.get_updates(limit=1)
    assert [u.message.text for u in first if u.message] == ["one"]
    again = await bot.get_updates()
    assert len(again) == 2  # nothing confirmed yet
    rest = await bot.get_updates(offset=first[0].update_id + 1)
    assert [u.message.text for u in rest if u.message] == ["two"]
    assert await bot.get_updates(offset=rest[0].update_id + 1) == ()
    assert sandbox.pending_updates() == []


async def test_long_poll_returns_as_soon_as_an_update_arrives(sandbox: Sandbox, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=30, read_timeout=40))
    await sandbox.wait_for(lambda: sandbox.long_polls_waiting == 1)
    assert not poll.done()
    sandbox.user_sends_text(PAT, "hello")
    updates = await asyncio.wait_for(poll, 10)
    assert [u.message.text for u in updates if u.message] == ["hello"]
    assert loop.time() - started < 10


async def test_stop_ends_a_pending_long_poll_promptly() -> None:
    box = Sandbox()
    await box.start()
    async with Bot(TOKEN, base_url=box.base_url) as client:
        poll = asyncio.create_task(client.get_updates(timeout=30, read_timeout=40))
        await box.wait_for(lambda: box.long_polls_waiting == 1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await box.stop()
        assert await asyncio.wait_for(poll, 5) == ()
        assert loop.time() - started < 5


async def test_second_poller_makes_the_first_one_conflict(sandbox: Sandbox, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=30, read_timeout=40))
    await sandbox.wait_for(lambda: sandbox.long_polls_waiting == 1)
    async with Bot(TOKEN, base_url=sandbox.base_url) as other:
        second = asyncio.create_task(other.get_updates(timeout=30, read_timeout=40))
        with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates request"):
            await asyncio.wait_for(first, 10)
        sandbox.user_sends_text(PAT, "for the survivor")
        updates = await asyncio.wait_for(second, 10)
    assert [u.message.text for u in updates if u.message] == ["for the survivor"]


async def test_button_press_by_label_queues_a_callback(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sent = await bot.send_message(PAT, "Pain today?", reply_markup=keyboard(("Yes", "pain:y")))
    update = sandbox.user_presses_button(PAT, label="Yes")
    updates = await bot.get_updates(offset=update["update_id"])
    query = updates[0].callback_query
    assert query is not None
    assert query.data == "pain:y"
    assert query.from_user.id == PAT
    assert query.chat_instance
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert await query.answer("Noted") is True
    kinds = [(e.who, e.kind, e.text) for e in sandbox.transcript(PAT)]
    assert kinds[-2:] == [("user", "button_press", "Yes"), ("bot", "callback_answer", "Noted")]


async def test_answering_a_query_twice_is_refused(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    await bot.send_message(PAT, "Pick", reply_markup=keyboard(("A", "a")))
    query_id = sandbox.user_presses_button(PAT, callback_data="a")["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("no-such-query")


async def test_press_picks_the_newest_bot_message_with_that_button(
    sandbox: Sandbox, bot: Bot
) -> None:
    sandbox.user_sends_text(PAT, "/start")
    await bot.send_message(PAT, "old", reply_markup=keyboard(("OK", "ok")))
    newer = await bot.send_message(PAT, "new", reply_markup=keyboard(("OK", "ok")))
    update = sandbox.user_presses_button(PAT, label="OK")
    assert update["callback_query"]["message"]["message_id"] == newer.message_id
    with pytest.raises(ControlError):
        sandbox.user_presses_button(PAT, label="Missing")


async def test_forced_press_on_unknown_message_is_inaccessible(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    with pytest.raises(ControlError):
        sandbox.user_presses_button(PAT, callback_data="stale", message_id=999)
    sandbox.user_presses_button(PAT, callback_data="stale", message_id=999, force=True)
    updates = await bot.get_updates()
    query = updates[-1].callback_query
    assert query is not None
    assert query.data == "stale"
    assert query.message is not None
    assert not query.message.is_accessible  # Telegram sends date 0 for such messages
    assert query.message.message_id == 999


async def test_edit_message_text_and_not_modified(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sent = await bot.send_message(PAT, "Day 1", reply_markup=keyboard(("Done", "d1")))
    edited = await bot.edit_message_text(
        "Day 1 ✓", chat_id=PAT, message_id=sent.message_id, reply_markup=keyboard(("Undo", "u"))
    )
    assert not isinstance(edited, bool)
    assert edited.edit_date is not None
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text(
            "Day 1 ✓", chat_id=PAT, message_id=sent.message_id, reply_markup=keyboard(("Undo", "u"))
        )
    entry = sandbox.bot_messages(PAT)[-1]
    assert (entry.text, entry.edited, entry.edit_history) == ("Day 1 ✓", True, ("Day 1",))
    assert entry.buttons == ((("Undo", "u"),),)


async def test_edit_without_markup_drops_the_keyboard(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sent = await bot.send_message(PAT, "Q", reply_markup=keyboard(("A", "a")))
    await bot.edit_message_text("Q (answered)", chat_id=PAT, message_id=sent.message_id)
    assert sandbox.bot_messages(PAT)[-1].buttons == ()
    await bot.edit_message_reply_markup(PAT, sent.message_id, reply_markup=keyboard(("B", "b")))
    assert sandbox.bot_messages(PAT)[-1].buttons == ((("B", "b"),),)


async def test_edit_of_unknown_or_user_message_fails(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=PAT, message_id=77)
    with pytest.raises(BadRequest, match=r"(?i)can't be edited"):
        await bot.edit_message_text("x", chat_id=PAT, message_id=1)


async def test_delete_message(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sent = await bot.send_message(PAT, "temporary")
    assert await bot.delete_message(PAT, sent.message_id)
    assert sandbox.bot_messages(PAT) == []
    assert sandbox.transcript(PAT)[-1].deleted
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(PAT, sent.message_id)


async def test_text_limits(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    assert (await bot.send_message(PAT, "a" * 4096)).text == "a" * 4096
    with pytest.raises(BadRequest, match=r"(?i)essage is too long"):
        await bot.send_message(PAT, "a" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)essage text is empty"):
        await bot.send_message(PAT, "   ")


async def test_callback_data_over_64_bytes_is_refused(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    await bot.send_message(PAT, "ok", reply_markup=keyboard(("Fine", "x" * 64)))
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(PAT, "bad", reply_markup=keyboard(("Long", "x" * 65)))
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(PAT, "bad", reply_markup=keyboard(("Wide", "é" * 33)))
    assert len(sandbox.bot_messages(PAT)) == 1


async def test_html_is_rendered_and_bad_markup_refused(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sent = await bot.send_message(PAT, "<b>Take</b> 2 &lt; 3 pills", parse_mode="HTML")
    assert sent.text == "Take 2 < 3 pills"
    assert sent.entities == (MessageEntity(MessageEntity.BOLD, 0, 4),)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(PAT, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)must be escaped"):
        await bot.send_message(PAT, "Take 2 pills.", parse_mode="MarkdownV2")
    assert [e.text for e in sandbox.bot_messages(PAT)] == ["Take 2 < 3 pills"]


async def test_chat_not_found_until_the_user_writes(sandbox: Sandbox, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)hat not found"):
        await bot.send_message(7, "hello?")
    with pytest.raises(BadRequest, match=r"(?i)hat not found"):
        await bot.send_message("@somebody", "hello?")
    sandbox.user_sends_text(7, "hi")
    assert (await bot.send_message(7, "hello!")).chat.id == 7


async def test_blocked_user_gives_forbidden(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sandbox.user_blocks_bot(PAT)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(PAT, "reminder")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(PAT, "typing")
    updates = await bot.get_updates()
    member = updates[-1].my_chat_member
    assert member is not None
    assert member.new_chat_member.status == "kicked"
    sandbox.user_unblocks_bot(PAT)
    assert (await bot.send_message(PAT, "reminder")).text == "reminder"


async def test_commands_round_trip(bot: Bot) -> None:
    commands = [BotCommand("start", "Begin"), BotCommand("help", "What I can do")]
    assert await bot.set_my_commands(commands)
    assert await bot.get_my_commands() == tuple(commands)
    assert await bot.get_my_commands(language_code="de") == ()
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad Command", "x")])


async def test_webhook_blocks_polling_until_deleted(bot: Bot) -> None:
    assert await bot.set_webhook("https://example.org/hook", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.org/hook"
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates() == ()


async def test_unsupported_and_harmless_methods(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    assert await bot.set_my_description("Aftercare helper")
    assert await bot.send_chat_action(PAT, "typing")
    with pytest.raises(BadRequest, match=r"(?i)not supported by the sandbox"):
        await bot.send_dice(PAT)
    assert await bot.close()


async def test_wait_for_bot_messages_and_its_timeout(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    waiter = asyncio.create_task(sandbox.wait_for_bot_messages(PAT, 2))
    await bot.send_message(PAT, "one")
    assert not waiter.done()
    await bot.send_message(PAT, "two")
    entries = await asyncio.wait_for(waiter, 5)
    assert [e.text for e in entries] == ["one", "two"]
    with pytest.raises(TimeoutError, match="3 bot message"):
        await sandbox.wait_for_bot_messages(PAT, 3, timeout=0.05)
