"""A local stand-in for the Telegram Bot API (tests, demo, development; never production)."""

from bot.sandbox.faults import Fault, FaultKind
from bot.sandbox.limits import Limits
from bot.sandbox.model import TranscriptEntry
from bot.sandbox.server import Sandbox, StatsSnapshot, serve_forever
from bot.sandbox.state import ControlError

__all__ = [
    "ControlError",
    "Fault",
    "FaultKind",
    "Limits",
    "Sandbox",
    "StatsSnapshot",
    "TranscriptEntry",
    "serve_forever",
]
