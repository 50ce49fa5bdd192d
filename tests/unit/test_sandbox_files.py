"""Files in the sandbox: the bot uploads photos and documents, users send documents, and the
bot fetches any file with getFile and downloads it, as a real PTB Bot does over HTTP."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InputFile, Message
from telegram.error import BadRequest

from bot.qr import PNG_SIGNATURE, qr_png
from bot.sandbox import Limits, Sandbox
from bot.sandbox.files import image_size

TOKEN = "123456:TEST-token"
PAT = 42
QR = qr_png("https://t.me/aftercare_sandbox_bot?start=c-0123456789abcdef")  # 410 x 410


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(limits=Limits.off()) as box:
        box.user_sends_text(PAT, "/start")
        yield box


@pytest.fixture
async def bot(sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=sandbox.base_url, base_file_url=sandbox.base_file_url) as bot:
        yield bot


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def png_header(width: int, height: int) -> bytes:
    """Enough of a PNG for its size to be read: the signature and the IHDR chunk."""
    return PNG_SIGNATURE + struct.pack(">I4sII", 13, b"IHDR", width, height) + bytes(5)


async def newest_message(bot: Bot) -> Message:
    updates = await bot.get_updates()
    message = updates[-1].message
    assert message is not None
    await bot.get_updates(offset=updates[-1].update_id + 1)
    return message


async def test_an_uploaded_png_comes_back_in_telegrams_sizes_and_downloads_intact(
    sandbox: Sandbox, bot: Bot
) -> None:
    sent = await bot.send_photo(PAT, photo=InputFile(QR, filename="qr.png"), caption="Scan me")
    assert [(size.width, size.height) for size in sent.photo] == [(90, 90), (320, 320), (410, 410)]
    assert sent.caption == "Scan me"
    file = await bot.get_file(sent.photo[-1].file_id)
    assert file.file_path is not None
    assert file.file_path.startswith(f"{sandbox.base_file_url}{TOKEN}/photos/")
    assert file.file_size == len(QR)
    assert bytes(await file.download_as_bytearray()) == QR
    [entry] = sandbox.bot_messages(PAT)
    assert (entry.content, entry.file_id, entry.caption) == (
        "photo",
        sent.photo[-1].file_id,
        "Scan me",
    )


async def test_an_uploaded_photo_can_be_sent_again_by_file_id(sandbox: Sandbox, bot: Bot) -> None:
    first = await bot.send_photo(PAT, photo=QR)
    again = await bot.send_photo(PAT, photo=first.photo[0].file_id)
    assert [size.file_id for size in again.photo] == [size.file_id for size in first.photo]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"%PDF-1.7 not an image", r"(?i)image_process_failed"),
        (png_header(5000, 100), r"(?i)photo_invalid_dimensions"),
        (png_header(6000, 5000), r"(?i)photo_invalid_dimensions"),
    ],
)
async def test_an_upload_telegram_would_not_take_as_a_photo_is_refused(
    sandbox: Sandbox, bot: Bot, content: bytes, error: str
) -> None:
    with pytest.raises(BadRequest, match=error):
        await bot.send_photo(PAT, photo=content)
    assert sandbox.bot_messages(PAT) == []


def test_image_sizes_are_read_from_png_gif_and_jpeg_headers() -> None:
    gif = b"GIF89a" + struct.pack("<HH", 640, 480) + bytes(4)
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes(9)
    frame = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, 600, 800) + bytes(10)
    jpeg = b"\xff\xd8" + app0 + frame
    assert image_size(png_header(410, 410)) == (".png", 410, 410)
    assert image_size(gif) == (".gif", 640, 480)
    assert image_size(jpeg) == (".jpg", 800, 600)
    assert image_size(b"plain text") is None


async def test_an_uploaded_document_keeps_its_name_type_and_bytes(
    sandbox: Sandbox, bot: Bot
) -> None:
    content = b"%PDF-1.7\n" + bytes(range(256))
    sent = await bot.send_document(
        PAT, document=InputFile(content, filename="Aftercare leaflet.pdf"), caption="Leaflet"
    )
    assert sent.document is not None
    assert (sent.document.file_name, sent.document.mime_type) == (
        "Aftercare leaflet.pdf",
        "application/pdf",
    )
    assert sent.document.file_size == len(content)
    assert sent.caption == "Leaflet"
    file = await sent.document.get_file()
    assert bytes(await file.download_as_bytearray()) == content
    [entry] = sandbox.bot_messages(PAT)
    assert (entry.content, entry.file_name, entry.file_id) == (
        "document",
        "Aftercare leaflet.pdf",
        sent.document.file_id,
    )


async def test_a_users_document_arrives_and_downloads(sandbox: Sandbox, bot: Bot) -> None:
    body = b"slug: microneedling\nversion: 2\n"
    update = sandbox.user_sends_document(
        PAT, "microneedling.yaml", body, "application/x-yaml", caption="new version"
    )
    assert update["message"]["document"]["file_name"] == "microneedling.yaml"
    message = await newest_message(bot)
    assert message.document is not None
    assert message.document.mime_type == "application/x-yaml"
    assert message.caption == "new version"
    file = await bot.get_file(message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == body
    assert file.file_path is not None
    path = file.file_path.removeprefix(f"{sandbox.base_file_url}{TOKEN}/")
    assert path.startswith("documents/")
    assert path.endswith(".yaml")
    assert sandbox.download(path) == body
    sent_on = await bot.send_document(PAT, document=message.document.file_id)
    assert sent_on.document is not None
    assert sent_on.document.file_id == message.document.file_id


async def test_a_document_can_be_sent_over_the_control_api(
    sandbox: Sandbox, bot: Bot, http: aiohttp.ClientSession
) -> None:
    payload = {"filename": "notes.txt", "content": base64.b64encode(b"hello").decode()}
    url = f"{sandbox.url}/control/users/7/document"
    async with http.post(url, json=payload) as response:
        body: dict[str, Any] = await response.json()
    assert response.status == 200
    assert body["result"]["message"]["document"]["mime_type"] == "text/plain"
    message = await newest_message(bot)
    assert message.document is not None
    file = await message.document.get_file()
    assert bytes(await file.download_as_bytearray()) == b"hello"
    async with http.post(url, json={"filename": "x.txt", "content": "not base64!"}) as response:
        assert response.status == 400
        assert "base64" in (await response.json())["description"]


async def test_get_file_knows_only_issued_files_and_users_photos_have_no_path(
    sandbox: Sandbox, bot: Bot
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("BQACAgIAAxkBAAnever-issued")
    update = sandbox.user_sends_photo(PAT)
    file = await bot.get_file(update["message"]["photo"][-1]["file_id"])
    assert file.file_path is None
    with pytest.raises(RuntimeError):
        await file.download_as_bytearray()


async def test_a_file_id_of_the_other_kind_is_a_type_mismatch(sandbox: Sandbox, bot: Bot) -> None:
    document = sandbox.user_sends_document(PAT, "a.txt", b"a")["message"]["document"]["file_id"]
    photo = sandbox.user_sends_photo(PAT)["message"]["photo"][-1]["file_id"]
    with pytest.raises(BadRequest, match=r"(?i)type of file mismatch"):
        await bot.send_photo(PAT, photo=document)
    with pytest.raises(BadRequest, match=r"(?i)type of file mismatch"):
        await bot.send_document(PAT, document=photo)


async def test_files_over_20_mb_cannot_be_fetched(sandbox: Sandbox, bot: Bot) -> None:
    update = sandbox.user_sends_document(PAT, "big.bin", bytes(20 * 1024 * 1024 + 1))
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(update["message"]["document"]["file_id"])


async def test_the_file_route_refuses_unknown_paths_and_bad_tokens(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{sandbox.base_file_url}{TOKEN}/documents/file_99.pdf") as response:
        assert response.status == 404
    async with http.get(f"{sandbox.base_file_url}not-a-token/documents/file_1.pdf") as response:
        assert response.status == 401


async def test_a_multipart_upload_may_be_attached_by_name(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(PAT))
    form.add_field("photo", "attach://picture")
    form.add_field("picture", QR, filename="qr.png", content_type="image/png")
    async with http.post(f"{sandbox.base_url}{TOKEN}/sendPhoto", data=form) as response:
        body = await response.json()
    assert body["ok"], body
    assert body["result"]["photo"][-1]["width"] == 410
    missing = aiohttp.FormData({"chat_id": str(PAT), "photo": "attach://nothing"})
    async with http.post(f"{sandbox.base_url}{TOKEN}/sendPhoto", data=missing) as response:
        assert response.status == 400


async def test_an_upload_where_no_file_is_expected_is_refused(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(PAT))
    form.add_field("text", b"hello", filename="text.txt")
    async with http.post(f"{sandbox.base_url}{TOKEN}/sendMessage", data=form) as response:
        assert response.status == 400
    assert sandbox.bot_messages(PAT) == []


async def test_a_copied_document_keeps_its_file_and_has_no_text_to_edit(
    sandbox: Sandbox, bot: Bot
) -> None:
    sent = await bot.send_document(PAT, document=InputFile(b"x", filename="x.txt"))
    copy = await bot.copy_message(PAT, PAT, sent.message_id, caption="again")
    [_, entry] = sandbox.bot_messages(PAT)
    assert entry.message_id == copy.message_id
    assert (entry.content, entry.caption, entry.file_name) == ("document", "again", "x.txt")
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text("new", chat_id=PAT, message_id=sent.message_id)
