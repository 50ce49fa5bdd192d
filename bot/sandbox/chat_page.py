"""A chat window per simulated user at ``/chat`` on the sandbox's address: a person can play
a patient (or a staff member) in a browser, pressing inline buttons drawn like Telegram's,
and watch reminders arrive on the fast clock. No token, no Telegram.

Server-rendered; a few lines of JavaScript refresh the messages every second and keep the
page at the newest one. Sending text or pressing a button goes through the same calls as
the control API (``Sandbox.user_sends_text`` / ``user_presses_button``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from aiohttp import web

from bot.sandbox.state import ControlError

if TYPE_CHECKING:
    from bot.sandbox.server import Sandbox

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
)
FIRST_PATIENT = 1001


def add_chat_page(app: web.Application, sandbox: Sandbox) -> None:
    page = _ChatPage(sandbox)
    app.router.add_get("/chat", page.index)
    app.router.add_get("/chat/{user_id}", page.window)
    app.router.add_get("/chat/{user_id}/messages", page.messages)
    app.router.add_post("/chat/{user_id}/text", page.text)
    app.router.add_post("/chat/{user_id}/press", page.press)


def _user_id(request: web.Request) -> int:
    try:
        return int(request.match_info["user_id"])
    except ValueError:
        raise web.HTTPNotFound(text="a user id is a number") from None


def _html(template: str, status: int = 200, **context: object) -> web.Response:
    body = TEMPLATES.get_template(template).render(**context)
    return web.Response(text=body, content_type="text/html", status=status)


class _ChatPage:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def index(self, request: web.Request) -> web.Response:
        users = sorted(u for u in self._sandbox.world.users if u > 0)
        suggested = max([FIRST_PATIENT - 1, *users]) + 1
        return _html("chat_index.html", users=users, suggested=suggested)

    async def window(self, request: web.Request) -> web.Response:
        user_id = _user_id(request)
        return _html("chat_window.html", user_id=user_id, entries=self._entries(user_id))

    async def messages(self, request: web.Request) -> web.Response:
        user_id = _user_id(request)
        return _html("chat_messages.html", user_id=user_id, entries=self._entries(user_id))

    async def text(self, request: web.Request) -> web.Response:
        user_id = _user_id(request)
        text = str((await request.post()).get("text") or "").strip()
        if text:
            self._sandbox.user_sends_text(user_id, text)
        raise web.HTTPSeeOther(f"/chat/{user_id}")

    async def press(self, request: web.Request) -> web.Response:
        user_id = _user_id(request)
        form = await request.post()
        # An old button (gone from the message) is ignored, as Telegram would.
        with contextlib.suppress(ControlError, ValueError):
            self._sandbox.user_presses_button(
                user_id,
                callback_data=str(form.get("data") or ""),
                message_id=int(str(form.get("message_id") or 0)),
            )
        raise web.HTTPSeeOther(f"/chat/{user_id}")

    def _entries(self, user_id: int) -> list[object]:
        return [e for e in self._sandbox.transcript(user_id) if e.kind != "callback_answer"]
