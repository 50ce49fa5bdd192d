"""getUpdates with Telegram's long-poll semantics.

``offset`` confirms (drops) every update with a smaller id, a negative offset keeps only the
last ``-offset`` updates; ``limit`` is 1-100; ``timeout`` seconds of long polling return as soon
as an update arrives. A newer getUpdates ends a waiting one with 409 Conflict, and polling is
refused with 409 while a webhook is set.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.sandbox.errors import CONFLICT_POLL, CONFLICT_WEBHOOK, ApiError
from bot.sandbox.state import World

DEFAULT_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
"""Update kinds Telegram sends only when allowed_updates asks for them."""


class Poller:
    """Serves getUpdates from the world's queue; one active long poll at a time."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._generation = 0
        self._stopping = False
        self.waiting = 0

    def resume(self) -> None:
        """Serve long polls again after :meth:`stop` (the sandbox was restarted)."""
        self._stopping = False

    def stop(self) -> None:
        """End every waiting long poll now (each returns an empty list)."""
        self._stopping = True
        self.world.changed()

    async def get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Answer one getUpdates call, waiting up to ``timeout`` seconds for updates."""
        if self.world.webhook.get("url"):
            raise ApiError(409, CONFLICT_WEBHOOK)
        self._generation += 1
        mine = self._generation  # a waiting older poll sees this on the next wake-up
        if "allowed_updates" in params:
            allowed = [str(kind) for kind in params["allowed_updates"]]
            self.world.allowed_updates = allowed or None
        self._confirm(params.get("offset"))
        limit = min(100, max(1, int(params.get("limit", 100))))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, int(params.get("timeout", 0)))
        self.waiting += 1
        self.world.changed()
        try:
            while True:
                if mine != self._generation:
                    raise ApiError(409, CONFLICT_POLL)
                batch = self._ready(limit)
                remaining = deadline - loop.time()
                if batch or self._stopping or remaining <= 0:
                    return batch
                await self.world.signal.wait(remaining)
        finally:
            self.waiting -= 1
            self.world.changed()

    def _confirm(self, offset: int | None) -> None:
        """Drop confirmed updates as Telegram does for ``offset``."""
        updates = self.world.updates
        if offset is None or offset == 0:
            return
        if offset > 0:
            updates[:] = [u for u in updates if u["update_id"] >= offset]
        else:
            del updates[: max(0, len(updates) + offset)]
        self.world.changed()

    def _ready(self, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` pending updates the bot accepts; refused kinds are discarded."""
        allowed = self.world.allowed_updates
        kept = [u for u in self.world.updates if accepts(allowed, u)]
        if len(kept) != len(self.world.updates):
            self.world.updates[:] = kept
        return [dict(update) for update in kept[:limit]]


def accepts(allowed: list[str] | None, update: dict[str, Any]) -> bool:
    """Whether an update's kind passes the bot's allowed_updates (or Telegram's default)."""
    kind = next(key for key in update if key != "update_id")
    if allowed is None:
        return kind not in DEFAULT_EXCLUDED
    return kind in allowed
