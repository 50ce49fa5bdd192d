"""Console patients: the clinic's patients by course stage with their flags, and one
patient's timeline (reminders sent and coming, reports with their words)."""

from __future__ import annotations

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response

from bot.console.auth import Signed
from bot.console.rendering import message, render
from bot.handlers.staff_tools import stage_names
from messages.formatting import local_moment
from messages.i18n import Translator
from schedules.clinic_stats import PatientRow, belongs_to, patient_rows
from schedules.clock import Clock
from schedules.db import SessionFactory
from schedules.models import Patient, Reminder, SymptomReport


def flag_names(t: Translator) -> dict[str, str]:
    return {
        "contraindication": t("contraindication"),
        "unreachable": t("unreachable"),
        "redness past day 7": t("redness past day 7"),
    }


class PatientPages:
    def __init__(self, sessions: SessionFactory, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def overview(self, request: Request, signed: Signed) -> Response:
        """The clinic's patients by course stage, with their flags."""
        async with self._sessions() as db:
            rows = await patient_rows(
                db, signed.clinic_id, self._clock.now(), is_default=signed.is_default
            )
        names = stage_names(signed.t)
        stages: dict[str, list[PatientRow]] = {}
        for row in rows:
            stages.setdefault(names.get(row.stage, row.stage), []).append(row)
        flags = flag_names(signed.t)
        return render(request, signed, "patients.html", stages=stages, flags=flags)

    async def timeline(self, request: Request, signed: Signed) -> Response:
        """One patient's reminders (sent and coming) and reports, in time order."""
        t = signed.t
        patient_id = int(request.path_params["patient_id"])
        async with self._sessions() as db:
            patient = await db.get(Patient, patient_id)
            if patient is None or not belongs_to(
                patient, signed.clinic_id, is_default=signed.is_default
            ):
                text = t("No such patient here.")
                return message(request, t("Not found"), text, 404, signed.language)
            reminders = await db.exec(
                select(Reminder)
                .where(col(Reminder.patient_id) == patient_id)
                .order_by(col(Reminder.due_at))
            )
            reports = await db.exec(
                select(SymptomReport)
                .where(col(SymptomReport.patient_id) == patient_id)
                .order_by(col(SymptomReport.created_at))
            )
            events = _timeline(list(reminders.all()), list(reports.all()), signed)
        return render(request, signed, "timeline.html", patient=patient, events=events)


def _timeline(
    reminders: list[Reminder], reports: list[SymptomReport], signed: Signed
) -> list[dict[str, str]]:
    """Reminders and reports as rows of (when, what, state), in the clinic's local time."""
    t = signed.t
    rows = [(r.due_at, t("Reminder"), r.step_id, str(r.status)) for r in reminders] + [
        (r.created_at, t("Report"), f"“{r.text}”" if r.text else "", f"{r.level} · {r.state}")
        for r in reports
    ]
    zone, language = signed.clinic.timezone, signed.language
    return [
        {"when": local_moment(moment, zone, language), "kind": kind, "what": what, "state": state}
        for moment, kind, what, state in sorted(rows, key=lambda row: row[0])
    ]
