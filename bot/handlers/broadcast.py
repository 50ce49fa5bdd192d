"""Staff broadcasts from the chat: compose, choose a segment, preview, confirm, cancel."""

from __future__ import annotations

from typing import Any

from telegram.ext import BaseHandler

HANDLERS: list[BaseHandler[Any, Any, Any]] = []
