"""Console escalations: the clinic's open reports first (most severe first), each with the
patient's pseudonym, day, words, photo and findings; Acknowledge, Close and Reply (the
reply reaches the patient through the bot, in the patient's language, as from the clinic)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.alerts import finding_labels, level_headline
from bot.console.auth import Signed
from bot.console.rendering import PAGE_HEADERS, message, render
from bot.handlers.staff import relayed, seen_note
from messages.formatting import local_moment
from messages.triage import TriageRules
from schedules import escalations
from schedules.catalog import ProtocolCatalog
from schedules.clock import Clock
from schedules.db import SessionFactory
from schedules.models import Patient, SymptomReport

_ACTIONS = {"ack": escalations.acknowledge, "close": escalations.close}


class EscalationPages:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        rules: TriageRules,
        catalog: ProtocolCatalog,
        *,
        tell_patient: Callable[[int, str], Awaitable[None]],
        photo_bytes: Callable[[str], Awaitable[bytes | None]],
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._rules = rules
        self._catalog = catalog
        self._tell_patient = tell_patient
        self._photo_bytes = photo_bytes

    async def overview(self, request: Request, signed: Signed) -> Response:
        async with self._sessions() as db:
            queue = await escalations.review_queue(db, signed.clinic_id, limit=100)
        items = [await self._item(report, signed) for report in queue]
        sent = request.query_params.get("sent")
        return render(request, signed, "escalations.html", reports=items, sent=sent)

    async def _item(self, report: SymptomReport, signed: Signed) -> dict[str, Any]:
        t = signed.t
        labels = await finding_labels(report, self._rules, self._catalog, signed.language)
        day = (
            t("day {day} after treatment").format(day=report.day)
            if report.day is not None
            else t("no treatment date")
        )
        return {
            "report": report,
            "headline": level_headline(report.level, t),
            "day": day,
            "when": local_moment(report.created_at, signed.clinic.timezone, signed.language),
            "findings": "; ".join(labels),
        }

    async def act(self, request: Request, signed: Signed) -> Response:
        """Acknowledge (the patient hears someone has it) or close a report."""
        report_id = int(request.path_params["report_id"])
        action = request.path_params["action"]
        async with self._sessions() as db:
            report = await db.get(SymptomReport, report_id)
            if report is None or report.clinic_id != signed.clinic_id or action not in _ACTIONS:
                return _no_report(request, signed)
            done = await _ACTIONS[action](db, report_id, signed.staff_id, self._clock.now())
            patient = await db.get(Patient, report.patient_id)
        if done and action == "ack" and patient and report.level in escalations.REALERT_EVERY:
            await self._tell_patient(patient.chat_id, seen_note(patient, signed.clinic))
        return RedirectResponse(f"/console#report-{report_id}", status_code=303)

    async def photo(self, request: Request, signed: Signed) -> Response:
        """The patient's photo of a report, fetched from Telegram; never cached."""
        t = signed.t
        report_id = int(request.path_params["report_id"])
        async with self._sessions() as db:
            report = await db.get(SymptomReport, report_id)
        if report is None or report.clinic_id != signed.clinic_id or not report.photo_file_id:
            return message(request, t("Not found"), t("No such photo here."), 404, signed.language)
        data = await self._photo_bytes(report.photo_file_id)
        if data is None:
            text = t("Telegram no longer has this photo, or cannot give it now.")
            return message(request, t("Photo unavailable"), text, 404, signed.language)
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        return Response(data, media_type=kind, headers=PAGE_HEADERS)

    async def reply(self, request: Request, signed: Signed) -> Response:
        """The staff member's words reach the patient through the bot; the report counts as
        acknowledged, as a reply to an alert in Telegram does."""
        report_id = int(request.path_params["report_id"])
        text = str((await request.form()).get("text") or "").strip()
        async with self._sessions() as db:
            report = await db.get(SymptomReport, report_id)
            if report is None or report.clinic_id != signed.clinic_id:
                return _no_report(request, signed)
            patient = await db.get(Patient, report.patient_id)
            if patient is None:
                return _no_report(request, signed)
            if not text:
                return RedirectResponse(f"/console#report-{report_id}", status_code=303)
            await escalations.acknowledge(db, report_id, signed.staff_id, self._clock.now())
        await self._tell_patient(patient.chat_id, relayed(patient, signed.clinic, text))
        return RedirectResponse(f"/console?sent={patient.id}#report-{report_id}", status_code=303)


def _no_report(request: Request, signed: Signed) -> Response:
    t = signed.t
    return message(request, t("Not found"), t("No such report here."), 404, signed.language)
