"""The sandbox's control surface over HTTP: act as users, read transcripts, inject faults.

Every endpoint speaks JSON and answers ``{"ok": true, "result": ...}`` or
``{"ok": false, "description": ...}`` with status 400:

* ``POST /control/users/{user_id}/text``    ``{"text", "first_name"?, "language_code"?,
  "reply_to_message_id"?}``
* ``POST /control/users/{user_id}/photo``   ``{"caption"?, "content"? (base64 image: the bot
  can download it), "first_name"?, "language_code"?, "reply_to_message_id"?}``
* ``POST /control/users/{user_id}/document``   ``{"filename", "content" (base64),
  "mime_type"?, "caption"?, "first_name"?, "language_code"?, "reply_to_message_id"?}``
* ``POST /control/users/{user_id}/press``   ``{"label"?, "callback_data"?, "message_id"?,
  "force"?}``
* ``POST /control/users/{user_id}/block`` and ``.../unblock``
* ``GET /control/chats`` (known chat ids) and ``GET /control/chats/{chat_id}/transcript``
* ``GET /control/chats/{chat_id}/wait?bot_messages=N&timeout=S``: answers with the transcript
  as soon as the bot has N messages in the chat (a long poll; 400 after S seconds)
* ``POST /control/updates``   any Update without ``update_id``, e.g. ``{"channel_post": {...}}``
  (``Sandbox.push_raw_update``: groups, channels, edits, malformed presses)
* ``POST /control/faults`` (same fields as ``Sandbox.inject_fault``), ``DELETE /control/faults``
* ``GET /control/stats``
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from bot.sandbox.errors import ApiError
from bot.sandbox.faults import FAULT_KINDS, FaultKind
from bot.sandbox.state import ControlError

if TYPE_CHECKING:
    from bot.sandbox.server import Sandbox

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_control_routes(app: web.Application, sandbox: Sandbox) -> None:
    """Register the ``/control`` endpoints for ``sandbox`` on ``app``."""
    routes = _ControlRoutes(sandbox)
    app.router.add_post("/control/users/{user_id}/text", _guarded(routes.text))
    app.router.add_post("/control/users/{user_id}/photo", _guarded(routes.photo))
    app.router.add_post("/control/users/{user_id}/document", _guarded(routes.document))
    app.router.add_post("/control/users/{user_id}/press", _guarded(routes.press))
    app.router.add_post("/control/users/{user_id}/block", _guarded(routes.block))
    app.router.add_post("/control/users/{user_id}/unblock", _guarded(routes.unblock))
    app.router.add_get("/control/chats", _guarded(routes.chats))
    app.router.add_get("/control/chats/{chat_id}/transcript", _guarded(routes.transcript))
    app.router.add_get("/control/chats/{chat_id}/wait", _guarded(routes.wait))
    app.router.add_post("/control/updates", _guarded(routes.raw_update))
    app.router.add_post("/control/faults", _guarded(routes.add_fault))
    app.router.add_delete("/control/faults", _guarded(routes.clear_faults))
    app.router.add_get("/control/stats", _guarded(routes.stats))


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _guarded(handler: Callable[[web.Request], Awaitable[Any]]) -> RouteHandler:
    """Wrap a handler so its result is sent as JSON and misuse becomes a 400 answer."""

    async def route(request: web.Request) -> web.StreamResponse:
        try:
            return _ok(await handler(request))
        except (ControlError, ApiError, ValueError, TypeError, KeyError, TimeoutError) as error:
            message = str(error) if not isinstance(error, KeyError) else f"missing {error}"
            return web.json_response({"ok": False, "description": message}, status=400)

    return route


async def _body(request: web.Request) -> dict[str, Any]:
    """The JSON object body (empty when there is none)."""
    if not request.body_exists:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _int(value: Any, name: str) -> int:
    """An integer path or body value."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer") from None


def _opt_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    return None if value is None else _int(value, name)


def _opt_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _base64(value: Any) -> bytes:
    """Bytes from a base64 string."""
    if not isinstance(value, str):
        raise ValueError("content must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("content must be a base64 string") from None


class _ControlRoutes:
    """The endpoint implementations, each a thin translation onto the Sandbox API."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def text(self, request: web.Request) -> Any:
        body = await _body(request)
        text = body.get("text")
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        return self.sandbox.user_sends_text(
            _int(request.match_info["user_id"], "user_id"),
            text,
            first_name=_opt_str(body, "first_name") or "Pat",
            language_code=_opt_str(body, "language_code") or "en",
            reply_to_message_id=_opt_int(body, "reply_to_message_id"),
        )

    async def photo(self, request: web.Request) -> Any:
        body = await _body(request)
        return self.sandbox.user_sends_photo(
            _int(request.match_info["user_id"], "user_id"),
            caption=_opt_str(body, "caption"),
            first_name=_opt_str(body, "first_name") or "Pat",
            language_code=_opt_str(body, "language_code") or "en",
            reply_to_message_id=_opt_int(body, "reply_to_message_id"),
            image=_base64(body["content"]) if body.get("content") is not None else None,
        )

    async def document(self, request: web.Request) -> Any:
        body = await _body(request)
        filename = _opt_str(body, "filename")
        if not filename:
            raise ValueError("filename must be a non-empty string")
        return self.sandbox.user_sends_document(
            _int(request.match_info["user_id"], "user_id"),
            filename,
            _base64(body.get("content")),
            _opt_str(body, "mime_type"),
            _opt_str(body, "caption"),
            first_name=_opt_str(body, "first_name") or "Pat",
            language_code=_opt_str(body, "language_code") or "en",
            reply_to_message_id=_opt_int(body, "reply_to_message_id"),
        )

    async def press(self, request: web.Request) -> Any:
        body = await _body(request)
        return self.sandbox.user_presses_button(
            _int(request.match_info["user_id"], "user_id"),
            label=_opt_str(body, "label"),
            callback_data=_opt_str(body, "callback_data"),
            message_id=_opt_int(body, "message_id"),
            force=bool(body.get("force", False)),
        )

    async def wait(self, request: web.Request) -> Any:
        chat_id = _int(request.match_info["chat_id"], "chat_id")
        count = _int(request.query.get("bot_messages", "1"), "bot_messages")
        seconds = min(float(request.query.get("timeout", "10")), 60.0)
        await self.sandbox.wait_for_bot_messages(chat_id, count, timeout=seconds)
        return [entry.to_json() for entry in self.sandbox.transcript(chat_id)]

    async def block(self, request: web.Request) -> Any:
        self.sandbox.user_blocks_bot(_int(request.match_info["user_id"], "user_id"))
        return True

    async def unblock(self, request: web.Request) -> Any:
        self.sandbox.user_unblocks_bot(_int(request.match_info["user_id"], "user_id"))
        return True

    async def chats(self, request: web.Request) -> Any:
        return sorted(self.sandbox.world.users)

    async def transcript(self, request: web.Request) -> Any:
        chat_id = _int(request.match_info["chat_id"], "chat_id")
        return [entry.to_json() for entry in self.sandbox.transcript(chat_id)]

    async def raw_update(self, request: web.Request) -> Any:
        return self.sandbox.push_raw_update(await _body(request))

    async def add_fault(self, request: web.Request) -> Any:
        body = await _body(request)
        kind = str(body.get("kind", "429"))
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        count = body.get("count", 1)
        chat_id = body.get("chat_id")
        fault = self.sandbox.inject_fault(
            method=str(body.get("method", "sendMessage")),
            kind=cast(FaultKind, kind),
            count=None if count is None else _int(count, "count"),
            chat_id=None if chat_id is None else _int(chat_id, "chat_id"),
            retry_after=_int(body.get("retry_after", 3), "retry_after"),
            delay=float(body.get("delay", 0.0)),
            description=_opt_str(body, "description"),
        )
        return fault.to_json()

    async def clear_faults(self, request: web.Request) -> Any:
        self.sandbox.clear_faults()
        return True

    async def stats(self, request: web.Request) -> Any:
        return dict(self.sandbox.stats())
