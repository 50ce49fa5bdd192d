"""Injected faults: make chosen Bot API calls fail the ways real networks and servers fail.

Kinds: "429" (rate limited, with retry_after), "403" (blocked), "400" (a Telegram Bad Request),
"500"/"502" (server errors with a JSON body), "delay" (answer late) and "drop" (close the
connection without answering). A fault fires ``count`` times (None: until cleared).

A fault with ``probability`` below 1 hits only that share of the calls it matches ("10% of
sends answer 500"), decided by the book's RNG; ``FaultBook.seed`` makes the draws repeatable.
A call it spares goes on to the next armed fault, and does not use up its ``count``.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from bot.sandbox.errors import BLOCKED, ApiError, too_many_requests

FaultKind = Literal["429", "403", "400", "500", "502", "delay", "drop"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

_DEFAULT_DESCRIPTIONS = {
    "403": BLOCKED,
    "400": 'Bad Request: can\'t parse entities: Unsupported start tag "sandbox" at byte offset 0',
    "500": "Internal Server Error",
    "502": "Bad Gateway",
}


@dataclass
class Fault:
    """One armed fault: which calls it hits, what it does and how many times it is left."""

    method: str
    kind: FaultKind
    count: int | None = 1
    chat_id: int | None = None
    retry_after: int = 3
    delay: float = 0.0
    description: str | None = None
    probability: float = 1.0
    fired: int = 0  # how many calls it has hit so far

    def matches(self, method: str, chat_id: Any) -> bool:
        """True if this fault applies to a call of ``method`` addressed to ``chat_id``."""
        if self.method != "*" and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def error(self) -> ApiError:
        """The error answer of an error-kind fault."""
        if self.kind == "429":
            return too_many_requests(self.retry_after)
        text = self.description or _DEFAULT_DESCRIPTIONS[self.kind]
        return ApiError(int(self.kind), text)

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly description of the fault."""
        return asdict(self)


class FaultBook:
    """The armed faults, consulted once per Bot API call."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._faults: list[Fault] = []
        self._rng = rng if rng is not None else random.Random()
        self.fired = 0

    def seed(self, seed: int) -> None:
        """Make the draws of probabilistic faults repeatable from here on."""
        self._rng.seed(seed)

    def add(self, fault: Fault) -> Fault:
        """Arm a fault (validated); returns it."""
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; use one of {FAULT_KINDS}")
        if fault.count is not None and fault.count < 1:
            raise ValueError("count must be at least 1 (or None for until cleared)")
        if fault.retry_after < 1 or fault.delay < 0:
            raise ValueError("retry_after must be >= 1 and delay >= 0")
        if not 0 < fault.probability <= 1:
            raise ValueError("probability must be above 0 and at most 1")
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    def take(self, method: str, chat_id: Any) -> Fault | None:
        """The first fault matching this call, used up by one; None if none applies."""
        for fault in self._faults:
            if fault.matches(method, chat_id):
                if fault.probability < 1 and self._rng.random() >= fault.probability:
                    continue  # spared this time
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                fault.fired += 1
                self.fired += 1
                return fault
        return None

    def armed(self) -> list[Fault]:
        """The faults still armed."""
        return list(self._faults)
