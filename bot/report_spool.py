"""Symptom reports the database would not take, kept on disk until it takes them.

The patient's answer never waits for the database (it is sent first); the report must
still reach staff. When its write fails (a locked SQLite file, a Postgres failover, a
read-only replica), the report is written here, one file per report, 0600, fsynced, and
every dispatch wake tries again; the file goes once the row is committed, and the
alerter then tells staff. A crash meanwhile loses nothing: the files are read at start.
The files hold what the row would hold (health data): same machine, owner-only, gone
once recorded.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from schedules import escalations
from schedules.db import SessionFactory
from schedules.models import SymptomReport

log = logging.getLogger(__name__)
_FIELDS = ("patient_id", "clinic_id", "treatment_id", "day", "source", "text", "photo_file_id",
           "level", "findings", "clarifying")  # fmt: skip


class ReportSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def keep(self, report: SymptomReport) -> None:
        """Write the report where a restart finds it (raises OSError if even the disk fails)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        body = {name: getattr(report, name) for name in _FIELDS}
        body["created_at"] = report.created_at.isoformat()
        path = self.directory / f"{uuid.uuid4().hex}.json"
        partial = path.with_suffix(".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
        log.warning("symptom report kept on disk until the database takes it")

    def waiting(self) -> list[Path]:
        return sorted(self.directory.glob("*.json")) if self.directory.is_dir() else []

    async def drain(self, sessions: SessionFactory, now: datetime) -> int:
        """Record every kept report the database now takes; stop at the first refusal."""
        recorded = 0
        for path in self.waiting():
            try:
                report = _report(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                log.error("unreadable spooled report set aside: %s", path.name)
                path.rename(path.with_suffix(".bad"))
                continue
            try:
                async with sessions() as session:
                    await escalations.record_report(session, report, now)
            except (SQLAlchemyError, OSError) as error:
                log.warning("database still refuses spooled reports: %s", type(error).__name__)
                break
            path.unlink()
            recorded += 1
        if recorded:
            log.info("recorded %d spooled symptom reports", recorded)
        return recorded


def _report(body: dict[str, Any]) -> SymptomReport:
    made = datetime.fromisoformat(body["created_at"])
    return SymptomReport(**{name: body[name] for name in _FIELDS}, created_at=made)
