"""What handlers need, built once by the composition root and carried in ``bot_data``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram.ext import CallbackContext

from bot.report_spool import ReportSpool
from messages.triage import TriageRules
from schedules.catalog import ProtocolCatalog
from schedules.clock import Clock
from schedules.db import SessionFactory

SERVICES_KEY = "aftercare.services"


@dataclass
class Services:
    sessions: SessionFactory
    clock: Clock
    catalog: ProtocolCatalog
    protocol_slug: str
    wake_dispatcher: Callable[[], None]
    triage_rules: TriageRules
    clinic_slug: str = "clinic"
    # Where the clinic console is served (None: no HTTP server); known once it listens.
    console_url: Callable[[], str | None] = lambda: None
    # Symptom reports the database refused, kept until it takes them (None: none kept).
    report_spool: ReportSpool | None = None


def services(context: CallbackContext[Any, Any, Any, Any]) -> Services:
    found = context.application.bot_data[SERVICES_KEY]
    assert isinstance(found, Services)
    return found
