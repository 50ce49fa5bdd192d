"""The sandbox's HTTP surfaces spoken raw: Bot API wire format and the /control API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import EndPointNotFound, Forbidden

from bot.sandbox import Limits, Sandbox

TOKEN = "123456:TEST-token"
PAT = 42


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    box = Sandbox(limits=Limits.off())
    await box.start()
    yield box
    await box.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, url: str, method: str = "POST", **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def test_unknown_method_is_404(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, f"{sandbox.base_url}{TOKEN}/sendTelepathy")
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}
    async with Bot(TOKEN, base_url=sandbox.base_url) as bot:
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("sendTelepathy")


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"text": "hi"}, "Bad Request: chat_id is empty"),
        ({"chat_id": PAT}, "Bad Request: message text is empty"),
        ({"chat_id": PAT, "text": ""}, "Bad Request: message text is empty"),
    ],
)
async def test_missing_required_parameter_is_400_with_telegram_wording(
    sandbox: Sandbox, http: aiohttp.ClientSession, params: dict[str, Any], description: str
) -> None:
    status, body = await call(http, f"{sandbox.base_url}{TOKEN}/sendMessage", data=params)
    assert status == 400
    assert body == {"ok": False, "error_code": 400, "description": description}


async def test_generic_missing_parameter(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, f"{sandbox.base_url}{TOKEN}/answerCallbackQuery")
    assert status == 400
    assert body["description"] == 'Bad Request: parameter "callback_query_id" is required'


async def test_malformed_token_is_401(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, f"{sandbox.base_url}not-a-token/getMe")
    assert status == 401
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_json_body_query_string_and_case_insensitive_names(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.user_sends_text(PAT, "/start")
    markup = {"inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]}
    status, body = await call(
        http,
        f"{sandbox.base_url}{TOKEN}/sendmessage",
        json={"chat_id": PAT, "text": "via json", "reply_markup": markup},
    )
    assert status == 200
    assert body["ok"] is True
    assert body["result"]["reply_markup"] == markup
    url = f"{sandbox.base_url}{TOKEN}/sendMessage?chat_id={PAT}&text=via+query"
    status, body = await call(http, url, method="GET")
    assert status == 200
    assert body["result"]["text"] == "via query"
    assert [e.text for e in sandbox.bot_messages(PAT)] == ["via json", "via query"]


async def test_form_values_are_coerced_per_spec(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.user_sends_text(PAT, "/start")
    form = {
        "chat_id": str(PAT),
        "text": "12345",
        "disable_notification": "true",
        "reply_markup": json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}),
    }
    status, body = await call(http, f"{sandbox.base_url}{TOKEN}/sendMessage", data=form)
    assert status == 200, body
    assert body["result"]["chat"]["id"] == PAT
    assert body["result"]["text"] == "12345"
    status, body = await call(http, f"{sandbox.base_url}{TOKEN}/getUpdates", data={"limit": "many"})
    assert status == 400
    assert body["description"] == 'Bad Request: parameter "limit" must be of type Integer'
    status, body = await call(
        http,
        f"{sandbox.base_url}{TOKEN}/sendMessage",
        data={"chat_id": PAT, "text": "x", "reply_markup": "{not json"},
    )
    assert status == 400
    assert body["description"] == "Bad Request: can't parse reply keyboard markup JSON object"


async def test_root_describes_the_sandbox(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    async with http.get(sandbox.url + "/") as response:
        assert response.status == 200
        text = await response.text()
    assert sandbox.base_url in text
    assert "/control" in text


async def test_control_api_round_trip(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    control = sandbox.url + "/control"
    status, body = await call(
        http, f"{control}/users/{PAT}/text", json={"text": "/start", "first_name": "Ada"}
    )
    assert status == 200
    assert body["result"]["message"]["entities"][0]["type"] == "bot_command"
    async with Bot(TOKEN, base_url=sandbox.base_url) as bot:
        updates = await bot.get_updates()
        assert updates[0].effective_user is not None
        assert updates[0].effective_user.first_name == "Ada"
        button = InlineKeyboardButton("Fine", callback_data="mood:fine")
        await bot.send_message(PAT, "How are you?", reply_markup=InlineKeyboardMarkup([[button]]))
        status, body = await call(http, f"{control}/users/{PAT}/press", json={"label": "Fine"})
        assert status == 200
        assert body["result"]["callback_query"]["data"] == "mood:fine"
        status, body = await call(http, f"{control}/users/{PAT}/press", json={"label": "Nope"})
        assert status == 400
        assert body["ok"] is False
        _, body = await call(http, f"{control}/chats/{PAT}/transcript", method="GET")
        lines = [(e["who"], e["kind"], e["text"]) for e in body["result"]]
        assert lines == [
            ("user", "message", "/start"),
            ("bot", "message", "How are you?"),
            ("user", "button_press", "Fine"),
        ]
        assert body["result"][1]["buttons"] == [[["Fine", "mood:fine"]]]

        status, body = await call(http, f"{control}/faults", json={"kind": "403", "count": 1})
        assert status == 200
        assert body["result"]["kind"] == "403"
        with pytest.raises(Forbidden):
            await bot.send_message(PAT, "x")
        await call(http, f"{control}/faults", json={"kind": "500", "count": None})
        status, _ = await call(http, f"{control}/faults", method="DELETE")
        assert status == 200
        assert await bot.send_message(PAT, "works again")

        await call(http, f"{control}/users/{PAT}/block")
        with pytest.raises(Forbidden):
            await bot.send_message(PAT, "x")
        await call(http, f"{control}/users/{PAT}/unblock")
        assert await bot.send_message(PAT, "unblocked")

    _, body = await call(http, f"{control}/stats", method="GET")
    assert body["result"]["requests"]["sendMessage"] == 5
    assert body["result"]["faults_fired"] == 1
    _, body = await call(http, f"{control}/chats", method="GET")
    assert body["result"] == [PAT]


async def test_control_api_rejects_bad_input(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    control = sandbox.url + "/control"
    status, body = await call(http, f"{control}/users/abc/text", json={"text": "hi"})
    assert status == 400
    assert "user_id" in body["description"]
    status, body = await call(http, f"{control}/users/1/text", json={})
    assert status == 400
    assert "text" in body["description"]
    status, body = await call(http, f"{control}/faults", json={"kind": "teapot"})
    assert status == 400
    assert "kind" in body["description"]
