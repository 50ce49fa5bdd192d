"""Log lines for people and for collectors; what the libraries may log is held back.

Text on a terminal, JSON objects (one per line, ``extra`` fields included) for a
collector. Our own log calls carry counts, ids of our rows and worker names, never a
message text, a name or a chat id (tests/e2e/test_log_privacy.py holds us to it).
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # ISO 8601, UTC
    )


def setup_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at ``level``; ``log_format`` is text, json or auto (text on a terminal)."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler()
    formatter = json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])  # no-op if handlers exist (tests)
    # httpx logs every request URL, and the URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # At DEBUG, PTB logs every request's parameters and aiosqlite every query's values.
    for name in ("telegram", "aiosqlite"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))
