"""Webhook delivery: while a webhook is set, updates are POSTed to it instead of waiting for
getUpdates, as Telegram does.

Each update is one POST of its JSON, in order, with the ``X-Telegram-Bot-Api-Secret-Token``
header when setWebhook gave a secret. A 2xx answer confirms the update; any other answer or a
connection error keeps it pending, records ``last_error_date``/``last_error_message`` for
getWebhookInfo and retries with growing delays. Telegram only calls HTTPS URLs; a test or a
local run stands in for the TLS-terminating proxy with :meth:`WebhookDelivery.route`, which
sends ``https://host/path`` to ``http://127.0.0.1:port/path``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.sandbox.polling import accepts
from bot.sandbox.state import World

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_FIRST_RETRY = 0.05
_LAST_RETRY = 5.0


class WebhookDelivery:
    """POSTs the world's pending updates to the webhook, one at a time, until stopped."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.delivered = 0
        self._origin: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def route(self, origin: str | None) -> None:
        """Deliver to ``origin`` + the webhook URL's path (a local proxy); None: to the URL."""
        self._origin = origin.rstrip("/") if origin else None
        self.world.changed()

    def target(self, url: str) -> str:
        """Where a POST for webhook ``url`` actually goes."""
        if self._origin is None:
            return url
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{self._origin}{parts.path or '/'}{query}"

    def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="sandbox-webhook")

    async def stop(self) -> None:
        if self._task is not None:
            # The flag as well as cancel(): Python 3.11's wait_for can swallow a cancellation
            # that arrives as the change signal fires.
            self._closing = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        delay = _FIRST_RETRY
        timeout = aiohttp.ClientTimeout(total=10)
        # A connection per update: a webhook server that stops never waits on the sandbox.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            while not self._closing:
                hook = dict(self.world.webhook)
                update = self._next(hook)
                if update is None:
                    await self.world.signal.wait(60)
                    continue
                error = await self._post(http, hook, update)
                if error is None:
                    self._confirm(update["update_id"])
                    delay = _FIRST_RETRY
                    continue
                self.world.webhook_error(error)
                logger.debug("sandbox webhook delivery failed: %s", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _LAST_RETRY)

    def _next(self, hook: dict[str, Any]) -> dict[str, Any] | None:
        """The oldest pending update the webhook accepts; refused kinds are discarded."""
        if not hook.get("url"):
            return None
        allowed = hook.get("allowed_updates") or None
        kept = [u for u in self.world.updates if accepts(allowed, u)]
        if len(kept) != len(self.world.updates):
            self.world.updates[:] = kept
        return dict(kept[0]) if kept else None

    async def _post(
        self, http: aiohttp.ClientSession, hook: dict[str, Any], update: dict[str, Any]
    ) -> str | None:
        """POST one update; None when the webhook took it, else Telegram's error wording."""
        headers = {SECRET_HEADER: hook["secret_token"]} if hook.get("secret_token") else {}
        try:
            async with http.post(self.target(hook["url"]), json=update, headers=headers) as answer:
                if 200 <= answer.status < 300:
                    return None
                return f"Wrong response from the webhook: {answer.status} {answer.reason}"
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"Connection failed: {type(error).__name__}"

    def _confirm(self, update_id: int) -> None:
        self.world.updates[:] = [u for u in self.world.updates if u["update_id"] != update_id]
        self.delivered += 1
        self.world.changed()
