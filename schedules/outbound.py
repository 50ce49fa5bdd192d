"""The port between the dispatcher and whatever delivers messages (Telegram, in ``bot/``).

Outcomes are data: the sender classifies every answer, the dispatcher decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol, runtime_checkable


class Lane(IntEnum):
    """Where a message waits for its turn at the pacer: a lower lane goes first.

    Not 0: PTB drops a falsy ``rate_limit_args`` before our rate limiter sees it.
    """

    SAFETY = 1  # an answer to a symptom message, a staff alert
    REPLY = 2  # replies in conversations: someone is waiting for them, even in a backlog
    CARE = 3  # care reminders
    BULK = 4  # broadcasts: they keep one turn in ``BULK_SHARE`` while others wait


# While replies or reminders wait, a waiting broadcast message still gets one turn in this many.
BULK_SHARE = 10


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class Outbound:
    chat_id: int
    text: str
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)
    photo: str | None = None  # a Telegram file_id; then ``text`` is its caption
    lane: Lane = Lane.CARE


@dataclass(frozen=True)
class Sent:
    message_id: int


@dataclass(frozen=True)
class RateLimited:
    """429: all sending pauses ``retry_after`` seconds; the message is retried, not counted."""

    retry_after: float


@dataclass(frozen=True)
class Unreachable:
    """The chat is gone for us (blocked, deactivated, not found)."""

    reason: str


@dataclass(frozen=True)
class Rejected:
    """Telegram refused this message (400); retrying the same would fail again."""

    reason: str


@dataclass(frozen=True)
class Transient:
    """5xx, timeout or network trouble; ``maybe_sent`` when the request may have arrived."""

    reason: str
    maybe_sent: bool = False


SendOutcome = Sent | RateLimited | Unreachable | Rejected | Transient


class Sender(Protocol):
    async def send(self, message: Outbound) -> SendOutcome: ...

    async def wait_ready(self, chat_id: int) -> None:
        """Return once a message to ``chat_id`` would not wait for that chat's own gap."""


@dataclass(frozen=True)
class Edit:
    """New text (and buttons; none removes them) for a message the bot sent earlier."""

    chat_id: int
    message_id: int
    text: str
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)


@runtime_checkable
class Editor(Protocol):
    """Edits a message in place (a broadcast's live progress); ``Sent`` means it shows the
    new text, also when it already did."""

    async def edit(self, edit: Edit) -> SendOutcome: ...
