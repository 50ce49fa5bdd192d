"""Photos, copies, forwards and replies in the sandbox, as a real PTB Bot sees them over HTTP."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    MessageOriginUser,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter

from bot.sandbox import ControlError, Limits, Sandbox
from tests.e2e.clinic_world import small_png

TOKEN = "123456:TEST-token"
PAT = 42


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(limits=Limits.off()) as box:
        yield box


@pytest.fixture
async def bot(sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=sandbox.base_url, base_file_url=sandbox.base_file_url) as client:
        yield client


def keyboard(label: str, data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)]])


def largest_file_id(update: dict[str, Any]) -> str:
    file_id: str = update["message"]["photo"][-1]["file_id"]
    return file_id


async def only_message(bot: Bot) -> Message:
    updates = await bot.get_updates()
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    return message


async def test_user_photo_arrives_with_sizes_and_caption(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_photo(PAT, caption="Day 3, still red", first_name="Ada")
    message = await only_message(bot)
    assert message.text is None
    assert message.caption == "Day 3, still red"
    assert len(message.photo) >= 3
    widths = [size.width for size in message.photo]
    assert widths == sorted(widths)
    for size in message.photo:
        assert size.file_id
        assert size.file_unique_id
        assert size.height > 0
        assert size.file_size
    assert len({size.file_id for size in message.photo}) == len(message.photo)
    assert message.from_user is not None
    assert message.from_user.first_name == "Ada"


async def test_photo_without_caption_has_none(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_photo(PAT)
    message = await only_message(bot)
    assert message.caption is None
    assert message.photo
    [entry] = sandbox.transcript(PAT)
    assert (entry.content, entry.caption, entry.text) == ("photo", None, "")


async def test_bot_sends_issued_photo_with_caption_and_buttons(sandbox: Sandbox, bot: Bot) -> None:
    file_id = largest_file_id(sandbox.user_sends_photo(PAT))
    sent = await bot.send_photo(
        PAT,
        photo=file_id,
        caption="<b>Looks</b> fine",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard("Thanks", "ok"),
    )
    assert sent.caption == "Looks fine"
    assert sent.caption_entities == (MessageEntity(MessageEntity.BOLD, 0, 5),)
    assert sent.photo[-1].file_id == file_id
    [entry] = await sandbox.wait_for_bot_messages(PAT, 1)
    assert entry.message_id == sent.message_id
    assert (entry.content, entry.text, entry.caption) == ("photo", "Looks fine", "Looks fine")
    assert entry.file_id == file_id
    assert entry.buttons == ((("Thanks", "ok"),),)
    assert entry.to_json()["content"] == "photo"


async def test_any_size_names_the_whole_photo(sandbox: Sandbox, bot: Bot) -> None:
    update = sandbox.user_sends_photo(PAT)
    smallest = update["message"]["photo"][0]["file_id"]
    sent = await bot.send_photo(PAT, photo=smallest)
    assert [size.file_id for size in sent.photo] == [
        size["file_id"] for size in update["message"]["photo"]
    ]


async def test_unknown_file_id_is_bad_request(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier/HTTP URL specified"):
        await bot.send_photo(PAT, photo="AgACAgIAAxkBAAIBnever-issued")
    assert sandbox.bot_messages(PAT) == []


async def test_uploaded_bytes_that_are_no_image_are_refused(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
        await bot.send_photo(PAT, photo=b"\xff\xd8\xff\xe0 not really a jpeg")
    assert sandbox.bot_messages(PAT) == []


async def test_caption_longer_than_1024_is_refused(sandbox: Sandbox, bot: Bot) -> None:
    file_id = largest_file_id(sandbox.user_sends_photo(PAT))
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await bot.send_photo(PAT, photo=file_id, caption="x" * 1025)
    sent = await bot.send_photo(PAT, photo=file_id, caption="x" * 1024)
    assert sent.caption == "x" * 1024


async def test_photo_to_a_blocked_user_is_forbidden(sandbox: Sandbox, bot: Bot) -> None:
    file_id = largest_file_id(sandbox.user_sends_photo(PAT))
    sandbox.user_blocks_bot(PAT)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_photo(PAT, photo=file_id)


async def test_photos_count_against_the_rate_limit() -> None:
    async with (
        Sandbox(limits=Limits(per_chat_burst=1), monotonic=lambda: 0.0) as box,
        Bot(TOKEN, base_url=box.base_url) as client,
    ):
        file_id = largest_file_id(box.user_sends_photo(PAT))
        await client.send_message(PAT, "first")
        with pytest.raises(RetryAfter):
            await client.send_photo(PAT, photo=file_id)
        with pytest.raises(RetryAfter):
            await client.copy_message(PAT, PAT, 1)


async def test_text_cannot_be_edited_into_a_photo(sandbox: Sandbox, bot: Bot) -> None:
    file_id = largest_file_id(sandbox.user_sends_photo(PAT))
    sent = await bot.send_photo(PAT, photo=file_id, caption="before")
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text("after", chat_id=PAT, message_id=sent.message_id)


async def test_copy_message_replaces_caption_and_adds_buttons(sandbox: Sandbox, bot: Bot) -> None:
    update = sandbox.user_sends_photo(PAT, caption="my arm")
    copied = await bot.copy_message(
        PAT,
        from_chat_id=PAT,
        message_id=update["message"]["message_id"],
        caption="Your photo from day 3",
        reply_markup=keyboard("Delete", "del"),
    )
    [entry] = sandbox.bot_messages(PAT)
    assert entry.message_id == copied.message_id
    assert entry.file_id == largest_file_id(update)
    assert entry.caption == "Your photo from day 3"
    assert entry.buttons == ((("Delete", "del"),),)


async def test_copy_of_text_keeps_text_and_formatting(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    sent = await bot.send_message(PAT, "<i>Remember</i> sunscreen", parse_mode=ParseMode.HTML)
    copied = await bot.copy_message(PAT, PAT, sent.message_id)
    copy = sandbox.bot_messages(PAT)[-1]
    assert copy.message_id == copied.message_id != sent.message_id
    assert (copy.content, copy.text, copy.caption) == ("text", "Remember sunscreen", None)


async def test_copy_of_a_missing_message_is_bad_request(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    with pytest.raises(BadRequest, match=r"(?i)message to copy not found"):
        await bot.copy_message(PAT, PAT, 99)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.copy_message(PAT, 777, 1)


async def test_forward_names_the_original_sender(sandbox: Sandbox, bot: Bot) -> None:
    update = sandbox.user_sends_photo(PAT, caption="rash")
    forwarded = await bot.forward_message(PAT, PAT, update["message"]["message_id"])
    origin = forwarded.forward_origin
    assert isinstance(origin, MessageOriginUser)
    assert origin.sender_user.id == PAT
    assert forwarded.caption == "rash"
    assert forwarded.photo[-1].file_id == largest_file_id(update)


async def test_user_reply_carries_the_replied_message(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.user_sends_text(PAT, "/start")
    question = await bot.send_message(PAT, "Any swelling?", reply_markup=keyboard("No", "n"))
    reply = sandbox.user_sends_text(PAT, "a little", reply_to_message_id=question.message_id)
    message = (await bot.get_updates(offset=reply["update_id"]))[0].message
    assert message is not None
    assert message.reply_to_message is not None
    assert message.reply_to_message.message_id == question.message_id
    assert message.reply_to_message.text == "Any swelling?"
    assert sandbox.transcript(PAT)[-1].reply_to == question.message_id


async def test_user_reply_to_a_missing_message_is_refused(sandbox: Sandbox) -> None:
    sandbox.user_sends_text(PAT, "/start")
    with pytest.raises(ControlError, match="no message 5"):
        sandbox.user_sends_text(PAT, "hm", reply_to_message_id=5)
    with pytest.raises(ControlError):
        sandbox.user_sends_photo(PAT, reply_to_message_id=5)
    assert len(sandbox.transcript(PAT)) == 1


async def test_reply_parameters_are_reflected_in_the_sent_message(
    sandbox: Sandbox, bot: Bot
) -> None:
    sandbox.user_sends_photo(PAT, caption="is this ok?")
    photo_message = await only_message(bot)
    answer = await photo_message.reply_photo(
        photo_message.photo[-1].file_id, caption="Yes, normal", do_quote=True
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.message_id == photo_message.message_id
    assert answer.reply_to_message.caption == "is this ok?"
    text = await bot.send_message(PAT, "Noted", reply_parameters=ReplyParameters(answer.message_id))
    assert text.reply_to_message is not None
    assert text.reply_to_message.message_id == answer.message_id
    assert text.reply_to_message.reply_to_message is None  # Telegram nests one level only
    assert [e.reply_to for e in sandbox.bot_messages(PAT)] == [
        photo_message.message_id,
        answer.message_id,
    ]


async def test_reply_parameters_to_a_missing_message_is_bad_request(
    sandbox: Sandbox, bot: Bot
) -> None:
    file_id = largest_file_id(sandbox.user_sends_photo(PAT))
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(PAT, "hi", reply_parameters=ReplyParameters(99))
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_photo(PAT, photo=file_id, reply_parameters=ReplyParameters(99))
    lenient = ReplyParameters(99, allow_sending_without_reply=True)
    sent = await bot.send_message(PAT, "hi anyway", reply_parameters=lenient)
    assert sent.reply_to_message is None
    assert [entry.text for entry in sandbox.bot_messages(PAT)] == ["hi anyway"]


async def test_control_routes_for_photos_and_replies() -> None:
    async with Sandbox(limits=Limits.off()) as box, aiohttp.ClientSession() as http:
        users = f"{box.url}/control/users/{PAT}"
        async with http.post(f"{users}/photo", json={"caption": "healing"}) as response:
            assert response.status == 200
            update = (await response.json())["result"]
        assert update["message"]["caption"] == "healing"
        assert "text" not in update["message"]
        photo_id = update["message"]["message_id"]
        body = {"text": "see above", "reply_to_message_id": photo_id}
        async with http.post(f"{users}/text", json=body) as response:
            reply = (await response.json())["result"]["message"]
        assert reply["reply_to_message"]["photo"] == update["message"]["photo"]
        missing = {"text": "?", "reply_to_message_id": 99}
        async with http.post(f"{users}/text", json=missing) as response:
            assert response.status == 400
        async with http.get(f"{box.url}/control/chats/{PAT}/transcript") as response:
            first, second = (await response.json())["result"]
    assert (first["content"], first["caption"]) == ("photo", "healing")
    assert first["file_id"] == largest_file_id(update)
    assert (second["content"], second["reply_to"]) == ("text", photo_id)


async def test_a_photo_sent_through_the_control_api_with_bytes_can_be_downloaded(
    sandbox: Sandbox, bot: Bot
) -> None:
    picture = small_png()
    async with aiohttp.ClientSession() as http:
        users = f"{sandbox.url}/control/users/{PAT}"
        content = base64.b64encode(picture).decode()
        async with http.post(f"{users}/photo", json={"content": content}) as response:
            assert response.status == 200
        garbage = base64.b64encode(b"not an image").decode()
        async with http.post(f"{users}/photo", json={"content": garbage}) as response:
            assert response.status == 400
    message = await only_message(bot)
    assert message.photo
    downloaded = await (await bot.get_file(message.photo[-1].file_id)).download_as_bytearray()
    assert bytes(downloaded) == picture
