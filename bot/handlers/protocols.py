"""Protocol updates from the chat: an owner sends a YAML document, sees the diff, publishes."""

from __future__ import annotations

from typing import Any

from telegram.ext import BaseHandler

HANDLERS: list[BaseHandler[Any, Any, Any]] = []
