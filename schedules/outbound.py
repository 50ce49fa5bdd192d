"""The port between the dispatcher and whatever delivers messages (Telegram, in ``bot/``).

Outcomes are data: the sender classifies every answer, the dispatcher decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


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
    safety: bool = False  # a staff alert: ahead of every routine send still waiting


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
