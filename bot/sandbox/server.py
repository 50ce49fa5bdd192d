"""A local stand-in for the Telegram Bot API, for running, demoing and testing with no network.

:class:`Sandbox` is an aiohttp server on 127.0.0.1 that speaks the Bot API's HTTP protocol, so
the real PTB client talks to it with ``Bot(token, base_url=sandbox.base_url)``. It also lets a
test (in-process) or a person (``/control/...`` over HTTP) act as users and inject faults.

Behaviour worth knowing:

* Any token shaped ``<digits>:<chars>`` is accepted (others get 401); the digits are the bot id.
* Methods are looked up in the bundled Bot API 10.1 spec: unknown → 404 "Not Found"; missing
  required parameters → 400 with Telegram's wording. Implemented: getMe, getUpdates,
  sendMessage, sendPhoto, sendDocument, getFile, copyMessage, forwardMessage, editMessageText,
  editMessageReplyMarkup, deleteMessage, answerCallbackQuery, set/get/deleteMyCommands,
  setWebhook, deleteWebhook, getWebhookInfo, sendChatAction, close, logOut. Harmless profile setters (setMyDescription, setMyShortDescription, setMyName,
  setChatMenuButton, setMyDefaultAdministratorRights) answer ``true``; every other spec'd
  method answers 400 "Bad Request: method not supported by the sandbox".
* Users act in private chats only (chat id == user id); a chat exists once its user has
  written or pressed. :meth:`Sandbox.push_raw_update` queues any other update (a group's,
  a channel's, an edit...) and makes the chat it names known, so the bot can answer there.
* parse_mode HTML/MarkdownV2/Markdown is applied, so transcripts show what the user would see.
* editMessageText without reply_markup removes the inline keyboard, as Telegram does.
* Files: sendPhoto and sendDocument take multipart uploads (an uploaded photo must be a PNG,
  GIF or JPEG) or file_ids the sandbox issued (an unknown one is 400 "wrong file
  identifier/HTTP URL specified"). Users send photos (ids only, no bytes) and documents
  (bytes). getFile gives a ``file_path`` for files with bytes, served at
  ``GET /file/bot<token>/<file_path>`` (PTB: ``base_file_url = <url>/file/bot``).
* Replies: ``reply_parameters`` must name a message of the same chat (else 400 "message to be
  replied not found"); the returned Message carries it as ``reply_to_message``.
* A blocked user who writes again has unblocked the bot (as "Restart bot" does in the app).
* While a webhook is set, updates are POSTed to it (with the secret token header) and
  getUpdates answers 409; :meth:`Sandbox.route_webhooks` stands in for the HTTPS proxy in
  front of a local server. Callback queries never expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

from aiohttp import web

from bot.sandbox.chat_page import add_chat_page
from bot.sandbox.control import add_control_routes
from bot.sandbox.errors import ApiError, not_found, unauthorized
from bot.sandbox.faults import Fault, FaultBook, FaultKind
from bot.sandbox.files import Upload
from bot.sandbox.limits import Limits, RateLimiter
from bot.sandbox.methods import BotMethods
from bot.sandbox.model import TranscriptEntry, bot_user_json
from bot.sandbox.polling import Poller
from bot.sandbox.spec import coerce_params, load_spec
from bot.sandbox.state import World
from bot.sandbox.webhook import WebhookDelivery
from bot.sandbox.wire import DropConnection, drop_connection, error_response, read_params

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"^(\d{1,19}):([A-Za-z0-9_-]+)$")
MAX_REQUEST_BYTES = 50 * 1024 * 1024 + 64 * 1024  # Telegram's 50 MB upload limit, plus the form
_ABOUT = """Aftercare sandbox: a local stand-in for the Telegram Bot API.
Bot API:  {url}/bot<TOKEN>/<method>   (PTB: Bot(token, base_url="{url}/bot"))
Files:    {url}/file/bot<TOKEN>/<file_path>   (PTB: base_file_url="{url}/file/bot")
Control:  {url}/control/...   users/<id>/text|photo|document|press|block|unblock,
          chats/<id>/transcript, faults (POST, DELETE), stats
"""


class StatsSnapshot(TypedDict):
    """Counters since start: calls per method, 429 answers, faults fired, updates waiting."""

    requests: dict[str, int]
    too_many_requests: int
    faults_fired: int
    pending_updates: int


def _utc_now() -> datetime:
    """The real current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


class Sandbox:
    """The fake Telegram: an HTTP server plus an in-process control surface."""

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.limits = limits if limits is not None else Limits()
        self.world = World(now)
        self.faults = FaultBook()
        self._spec = load_spec()
        self._methods = BotMethods(self.world, RateLimiter(self.limits, monotonic))
        self._handlers = self._methods.table()
        self._poller = Poller(self.world)
        self._webhook = WebhookDelivery(self.world)
        self._requests: Counter[str] = Counter()
        self._too_many = 0
        self._stopped = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0 picks a free port)."""
        if self._runner is not None:
            raise RuntimeError("sandbox already started")
        self._stopped.clear()
        self._poller.resume()
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_get("/", self._about)
        add_control_routes(app, self)
        add_chat_page(app, self)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._download)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # No access log: its lines would carry the bot token in the path.
        runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=2.0, access_log=None
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        await web.SockSite(runner, sock).start()
        bound_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self._runner, self._url = runner, f"http://{shown}:{bound_port}"
        self._webhook.start()

    async def stop(self) -> None:
        """End pending long polls and delays, then close the server."""
        self._poller.stop()
        self._stopped.set()
        await self._webhook.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Sandbox:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._url is None:
            raise RuntimeError("sandbox not started")
        return self._url

    @property
    def base_url(self) -> str:
        """The value for PTB's ``base_url``: requests go to ``{base_url}{token}/{method}``."""
        return self.url + "/bot"

    @property
    def base_file_url(self) -> str:
        """The value for PTB's ``base_file_url``: downloads from ``{it}{token}/{file_path}``."""
        return self.url + "/file/bot"

    # -- acting as users ----------------------------------------------------------------------

    def user_sends_text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Pat",
        language_code: str = "en",
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """The user writes ``text`` to the bot; returns the queued Update.

        With ``reply_to_message_id`` the text replies to that message of the chat (ControlError
        if there is none), and the Update's message carries it as ``reply_to_message``.
        """
        return self.world.user_sends_text(
            user_id,
            text,
            first_name=first_name,
            language_code=language_code,
            reply_to_message_id=reply_to_message_id,
        )

    def user_sends_photo(
        self,
        user_id: int,
        *,
        caption: str | None = None,
        first_name: str = "Pat",
        language_code: str = "en",
        reply_to_message_id: int | None = None,
        image: bytes | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo (a new one, in a few sizes); returns the queued Update.

        Its PhotoSize file_ids are remembered, so the bot can send the photo back by file_id.
        With ``image`` (the picture's bytes) the bot can also download it.
        """
        return self.world.user_sends_photo(
            user_id,
            caption=caption,
            first_name=first_name,
            language_code=language_code,
            reply_to_message_id=reply_to_message_id,
            image=image,
        )

    def user_sends_document(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        mime_type: str | None = None,
        caption: str | None = None,
        *,
        first_name: str = "Pat",
        language_code: str = "en",
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a file; returns the queued Update (``message.document``).

        The bytes are kept: the bot can ``getFile`` the document's file_id and download it,
        or send it on by file_id. ``mime_type`` defaults to a guess from ``filename``.
        """
        return self.world.user_sends_document(
            user_id,
            Upload("document", filename, mime_type, content),
            caption=caption,
            first_name=first_name,
            language_code=language_code,
            reply_to_message_id=reply_to_message_id,
        )

    def download(self, file_path: str) -> bytes:
        """The bytes ``getFile`` names by ``file_path`` (KeyError for an unknown path)."""
        stored = self.world.files.download(file_path)
        if stored is None or stored.content is None:
            raise KeyError(file_path)
        return stored.content

    def user_presses_button(
        self,
        user_id: int,
        *,
        label: str | None = None,
        callback_data: str | None = None,
        message_id: int | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """The user presses an inline button (by label or data); returns the queued Update.

        Searches ``message_id`` or else the newest bot message with such a button. With
        ``force=True`` plus ``message_id`` and ``callback_data`` the callback is queued even
        when no such button exists. Raises ControlError when nothing matches.
        """
        return self.world.user_presses_button(
            user_id, label=label, callback_data=callback_data, message_id=message_id, force=force
        )

    def push_raw_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue an arbitrary update for the bot, as given; returns it with its update_id.

        For what no user action above produces: edited messages, channel posts, group
        messages, polls, inline queries, malformed callback queries. ``update`` is a JSON
        object with exactly one field (e.g. ``{"channel_post": {...}}``) and no
        ``update_id``; ControlError otherwise. The chat it names (``message.chat``, or the
        chat of a callback query's message) becomes known, so the bot's answers land there:
        a group's or a channel's transcript is read with its (negative) chat id. A
        ``callback_query`` with a string ``id`` is recorded as a press the bot can answer once.
        """
        return self.world.queue_raw_update(update)

    def user_blocks_bot(self, user_id: int) -> None:
        """From now on, sends to this chat answer 403 "bot was blocked by the user"."""
        self.world.set_blocked(user_id, blocked=True)

    def user_unblocks_bot(self, user_id: int) -> None:
        """Undo :meth:`user_blocks_bot`."""
        self.world.set_blocked(user_id, blocked=False)

    def route_webhooks(self, origin: str | None) -> None:
        """POST webhook updates to ``origin`` + the webhook URL's path, as the HTTPS proxy in
        front of a local server would (``https://bot.example/hook`` → ``{origin}/hook``).

        Telegram accepts only HTTPS webhooks, and so does the sandbox; this keeps that rule
        while a test's server listens on plain HTTP. None delivers to the URL itself.
        """
        self._webhook.route(origin)

    @property
    def webhook_deliveries(self) -> int:
        """How many updates a webhook has accepted since start."""
        return self._webhook.delivered

    # -- reading ------------------------------------------------------------------------------

    def transcript(self, chat_id: int) -> list[TranscriptEntry]:
        """The chat as a person would read it: messages, button presses and answers."""
        return self.world.transcript(chat_id)

    def bot_messages(self, chat_id: int) -> list[TranscriptEntry]:
        """The bot's messages in the chat that have not been deleted."""
        return self.world.bot_messages(chat_id)

    @property
    def long_polls_waiting(self) -> int:
        """How many getUpdates calls are currently waiting for updates."""
        return self._poller.waiting

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued for the bot and not yet confirmed."""
        return [dict(update) for update in self.world.updates]

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline is this helper's point
        *,
        what: str | None = None,
    ) -> None:
        """Wait until ``predicate()`` is true, re-checking on every state change.

        Raises TimeoutError naming the predicate and summarising the chats if it stays false.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                name = what or getattr(predicate, "__qualname__", repr(predicate))
                raise TimeoutError(
                    f"sandbox: {name} still false after {timeout:g}s; {self._summary()}"
                )
            await self.world.signal.wait(remaining)

    async def wait_for_bot_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - as in wait_for
    ) -> list[TranscriptEntry]:
        """Wait until the bot has at least ``count`` messages (text or photo); return them all."""
        await self.wait_for(
            lambda: len(self.bot_messages(chat_id)) >= count,
            timeout,
            what=f"{count} bot message(s) in chat {chat_id}",
        )
        return self.bot_messages(chat_id)

    def _summary(self) -> str:
        """Counts only (no message text): what each chat holds and what is queued."""
        chats = []
        for chat_id in sorted(self.world.log):
            entries = self.transcript(chat_id)
            mine = sum(1 for e in entries if e.who == "bot" and e.kind == "message")
            chats.append(f"chat {chat_id}: {len(entries)} entries, {mine} from the bot")
        queued = f"{len(self.world.updates)} update(s) unconfirmed"
        return "; ".join([*chats, queued]) if chats else f"no chats; {queued}"

    # -- faults and counters ------------------------------------------------------------------

    def inject_fault(
        self,
        method: str = "sendMessage",
        kind: FaultKind = "429",
        count: int | None = 1,
        chat_id: int | None = None,
        retry_after: int = 3,
        delay: float = 0.0,
        description: str | None = None,
    ) -> Fault:
        """Make the next ``count`` calls of ``method`` ("*" for any) fail as ``kind``."""
        fault = Fault(method, kind, count, chat_id, retry_after, delay, description)
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        """Disarm every injected fault."""
        self.faults.clear()

    def stats(self) -> StatsSnapshot:
        """Counters since start."""
        return StatsSnapshot(
            requests=dict(self._requests),
            too_many_requests=self._too_many,
            faults_fired=self.faults.fired,
            pending_updates=len(self.world.updates),
        )

    # -- HTTP ---------------------------------------------------------------------------------

    async def _about(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=_ABOUT.format(url=self.url))

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return error_response(not_found())

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """Telegram's file server: the bytes under a ``file_path`` getFile gave."""
        if _TOKEN.match(request.match_info["token"]) is None:
            return error_response(unauthorized())
        stored = self.world.files.download(request.match_info["file_path"])
        if stored is None or stored.content is None:
            return error_response(not_found())
        self._requests["file download"] += 1
        kind, _ = mimetypes.guess_type(request.match_info["file_path"])
        return web.Response(body=stored.content, content_type=kind or "application/octet-stream")

    async def _api(self, request: web.Request) -> web.StreamResponse:
        """One Bot API call: authenticate, look up, parse, maybe fault, handle, answer."""
        name = request.match_info["method"]
        try:
            result = await self._call(request, request.match_info["token"], name)
        except ApiError as error:
            if error.code == 429:
                self._too_many += 1
            logger.debug("sandbox %s -> %d", name, error.code)
            return error_response(error)
        except DropConnection:
            logger.debug("sandbox %s -> dropped", name)
            return await drop_connection(request)
        return web.json_response({"ok": True, "result": result})

    async def _call(self, request: web.Request, token: str, name: str) -> Any:
        """The call's ``result``, or an ApiError / DropConnection to answer instead."""
        match = _TOKEN.match(token)
        if match is None:
            raise unauthorized()
        bot_id = int(match.group(1))
        if self.world.bot_user["id"] != bot_id:
            self.world.bot_user = bot_user_json(bot_id)
        spec = self._spec.lookup(name)
        if spec is None:
            raise not_found()
        self._requests[spec.name] += 1
        params = coerce_params(spec, await read_params(request))
        fault = self.faults.take(spec.name, params.get("chat_id"))
        if fault is not None:
            await self._apply(fault)
        key = spec.name.lower()
        if key == "getupdates":
            return await self._poller.get_updates(params)
        handler = self._handlers.get(key, self._methods.unsupported)
        return await handler(params)

    async def _apply(self, fault: Fault) -> None:
        """Carry out a fault: sleep for "delay", signal "drop", raise the error otherwise."""
        if fault.kind == "delay":
            with contextlib.suppress(TimeoutError):  # stop() cuts the delay short
                await asyncio.wait_for(self._stopped.wait(), fault.delay)
            return
        if fault.kind == "drop":
            raise DropConnection
        raise fault.error()


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8081,
    limits: Limits | None = None,
    *,
    on_start: Callable[[Sandbox], None] | None = None,
) -> None:
    """Run a sandbox until cancelled (the ``aftercare sandbox`` command).

    ``on_start`` is called with the running sandbox, e.g. to learn the port chosen for 0.
    """
    sandbox = Sandbox(limits=limits)
    await sandbox.start(host, port)
    logger.info(
        "Telegram sandbox listening: Bot API base_url %s, control %s/control",
        sandbox.base_url,
        sandbox.url,
    )
    if on_start is not None:
        on_start(sandbox)
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()
