"""The console's pages: sign-in with a link from the bot, the clinic's escalations.

Every page and action is scoped to the signed-in staff member's clinic: an object of
another clinic is answered 404, exactly as one that does not exist. Forms are POSTs with
the session's CSRF token; a missing or wrong token is 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bot.alerts import finding_labels, level_headline
from bot.console.auth import ConsoleSession, Sessions, Signed, csrf_ok
from bot.console.broadcast_pages import BroadcastPages
from bot.console.protocol_pages import ProtocolPages
from bot.handlers.staff import relayed, seen_note
from bot.handlers.staff_tools import stage_names
from messages.formatting import local_moment
from messages.i18n import translator
from messages.triage import TriageRules
from schedules import escalations
from schedules.catalog import ProtocolCatalog
from schedules.clinic_stats import PatientRow, belongs_to, patient_rows
from schedules.clock import Clock
from schedules.console_links import redeem_link
from schedules.db import SessionFactory
from schedules.models import Clinic, Patient, Reminder, Staff, StaffRole, SymptomReport

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
t = translator("en")  # staff read English until clinics choose a language
Page = Callable[[Request, Signed], Awaitable[Response]]


@dataclass(frozen=True)
class ConsoleDeps:
    sessions: SessionFactory
    clock: Clock
    cookies: Sessions
    rules: TriageRules
    catalog: ProtocolCatalog
    tell_patient: Callable[[int, str], Awaitable[None]]  # (chat id, text) through the bot
    photo_bytes: Callable[[str], Awaitable[bytes | None]]  # a file id's bytes, from Telegram
    default_clinic_slug: str  # its staff also see patients who joined without a clinic link
    wake: Callable[[], None]  # something new to send: the daemon's dispatch loop runs


def console_routes(deps: ConsoleDeps) -> list[BaseRoute]:
    pages = _Pages(deps)
    sends = BroadcastPages(
        deps.sessions, deps.clock, TEMPLATES, wake=deps.wake, not_found=_not_found
    )
    protocols = ProtocolPages(deps.sessions, deps.clock, TEMPLATES, wake=deps.wake)
    return [
        Route("/console/protocols", pages.signed_in(protocols.overview), methods=["GET"]),
        Route("/console/protocols/check", pages.signed_in(protocols.check), methods=["POST"]),
        Route("/console/protocols/publish", pages.signed_in(protocols.publish), methods=["POST"]),
        Route(
            "/console/protocols/rollback/{version:int}",
            pages.signed_in(protocols.rollback),
            methods=["POST"],
        ),
        Route("/console/broadcasts", pages.signed_in(sends.overview), methods=["GET"]),
        Route("/console/broadcasts/recipients", pages.signed_in(sends.recipients), methods=["GET"]),
        Route("/console/broadcasts/preview", pages.signed_in(sends.preview), methods=["POST"]),
        Route(
            "/console/broadcasts/{broadcast_id:int}/send",
            pages.signed_in(sends.send),
            methods=["POST"],
        ),
        Route(
            "/console/broadcasts/{broadcast_id:int}/cancel",
            pages.signed_in(sends.cancel),
            methods=["POST"],
        ),
        Route("/console/login/{secret}", pages.login_form, methods=["GET"]),
        Route("/console/login", pages.login, methods=["POST"]),
        Route("/console/logout", pages.signed_in(pages.logout), methods=["POST"]),
        Route("/console", pages.signed_in(pages.escalations), methods=["GET"]),
        Route("/console/patients", pages.signed_in(pages.patients), methods=["GET"]),
        Route(
            "/console/patients/{patient_id:int}", pages.signed_in(pages.timeline), methods=["GET"]
        ),
        Route(
            "/console/escalations/{report_id:int}/photo",
            pages.signed_in(pages.photo),
            methods=["GET"],
        ),
        Route(
            "/console/escalations/{report_id:int}/reply",
            pages.signed_in(pages.reply),
            methods=["POST"],
        ),
        Route(
            "/console/escalations/{report_id:int}/{action:str}",
            pages.signed_in(pages.act_on_escalation),
            methods=["POST"],
        ),
    ]


def _not_found(request: Request) -> Response:
    return _message(request, t("Not found"), t("No such thing here."), 404)


def _message(request: Request, heading: str, text: str, status: int) -> Response:
    context = {"heading": heading, "text": text}
    return TEMPLATES.TemplateResponse(request, "message.html", context, status_code=status)


class _Pages:
    def __init__(self, deps: ConsoleDeps) -> None:
        self._deps = deps

    def signed_in(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        """Only for a live session of an active staff member; POSTs need the CSRF token."""

        async def guarded(request: Request) -> Response:
            cookie = self._deps.cookies.read(request)
            signed = await self._signed(cookie) if cookie is not None else None
            if cookie is None or signed is None:
                text = t("Send /console to the bot for a sign-in link.")
                return _message(request, t("Please sign in"), text, 401)
            try:
                if request.method == "POST":
                    form = await request.form()
                    if not csrf_ok(cookie, form.get("csrf")):
                        return _message(request, t("Refused"), t("The form has expired."), 403)
                return await page(request, signed)
            finally:
                await request.close()  # uploaded files' temporary files

        return guarded

    async def _signed(self, cookie: ConsoleSession) -> Signed | None:
        """The cookie's member, if still active staff of its clinic (removal signs out)."""
        async with self._deps.sessions() as db:
            member = await db.get(Staff, cookie.staff_id)
            clinic = await db.get(Clinic, cookie.clinic_id)
        if member is None or not member.active or clinic is None:
            return None
        if member.clinic_id != cookie.clinic_id:
            return None
        default = clinic.slug == self._deps.default_clinic_slug
        owner = member.role == StaffRole.OWNER
        return Signed(cookie.staff_id, clinic, default, cookie.csrf, is_owner=owner)

    async def login_form(self, request: Request) -> Response:
        """A button, not an instant sign-in: link previews and scanners fetch GETs."""
        context = {"secret": request.path_params["secret"]}
        return TEMPLATES.TemplateResponse(request, "login.html", context)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        secret = form.get("secret")
        member = None
        if isinstance(secret, str):
            async with self._deps.sessions() as db:
                member = await redeem_link(db, secret, self._deps.clock.now())
        if member is None or member.id is None:
            text = t(
                "This link was already used or has expired. Send /console to the bot for a new one."
            )
            return _message(request, t("Link not valid"), text, 403)
        response = RedirectResponse("/console", status_code=303)
        self._deps.cookies.start(response, member.id, member.clinic_id)
        return response

    async def logout(self, request: Request, signed: Signed) -> Response:
        response = RedirectResponse("/console", status_code=303)
        self._deps.cookies.end(response)
        return response

    async def escalations(self, request: Request, signed: Signed) -> Response:
        async with self._deps.sessions() as db:
            queue = await escalations.review_queue(db, signed.clinic_id, limit=100)
        items = [await self._item(report, signed.clinic) for report in queue]
        sent = request.query_params.get("sent")
        context = {"clinic": signed.clinic, "reports": items, "csrf": signed.csrf, "sent": sent}
        return TEMPLATES.TemplateResponse(request, "escalations.html", context)

    async def _item(self, report: SymptomReport, clinic: Clinic) -> dict[str, Any]:
        labels = await finding_labels(report, self._deps.rules, self._deps.catalog)
        day = (
            t("day {day} after treatment").format(day=report.day)
            if report.day is not None
            else t("no treatment date")
        )
        when = local_moment(report.created_at, clinic.timezone, "en")
        return {
            "report": report,
            "headline": level_headline(report.level, t),
            "day": day,
            "when": when,
            "findings": "; ".join(labels),
        }

    async def act_on_escalation(self, request: Request, signed: Signed) -> Response:
        report_id = int(request.path_params["report_id"])
        action = request.path_params["action"]
        now = self._deps.clock.now()
        async with self._deps.sessions() as db:
            report = await db.get(SymptomReport, report_id)
            if report is None or report.clinic_id != signed.clinic_id or action not in _ACTIONS:
                return _message(request, t("Not found"), t("No such report here."), 404)
            done = await _ACTIONS[action](db, report_id, signed.staff_id, now)
            patient = await db.get(Patient, report.patient_id)
        if done and action == "ack" and patient and report.level in escalations.REALERT_EVERY:
            await self._deps.tell_patient(patient.chat_id, seen_note(patient, signed.clinic))
        return RedirectResponse(f"/console#report-{report_id}", status_code=303)

    async def photo(self, request: Request, signed: Signed) -> Response:
        """The patient's photo of a report, fetched from Telegram; never cached."""
        report_id = int(request.path_params["report_id"])
        async with self._deps.sessions() as db:
            report = await db.get(SymptomReport, report_id)
        if report is None or report.clinic_id != signed.clinic_id or not report.photo_file_id:
            return _message(request, t("Not found"), t("No such photo here."), 404)
        data = await self._deps.photo_bytes(report.photo_file_id)
        if data is None:
            text = t("Telegram no longer has this photo, or cannot give it now.")
            return _message(request, t("Photo unavailable"), text, 404)
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        private = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
        return Response(data, media_type=kind, headers=private)

    async def patients(self, request: Request, signed: Signed) -> Response:
        """The clinic's patients by course stage, with their flags."""
        async with self._deps.sessions() as db:
            rows = await patient_rows(
                db, signed.clinic_id, self._deps.clock.now(), is_default=signed.is_default
            )
        names = stage_names(t)
        stages: dict[str, list[PatientRow]] = {}
        for row in rows:
            stages.setdefault(names.get(row.stage, row.stage), []).append(row)
        context = {"clinic": signed.clinic, "stages": stages, "csrf": signed.csrf}
        return TEMPLATES.TemplateResponse(request, "patients.html", context)

    async def timeline(self, request: Request, signed: Signed) -> Response:
        """One patient's reminders (sent and coming) and reports, in time order."""
        patient_id = int(request.path_params["patient_id"])
        async with self._deps.sessions() as db:
            patient = await db.get(Patient, patient_id)
            if patient is None or not belongs_to(
                patient, signed.clinic_id, is_default=signed.is_default
            ):
                return _message(request, t("Not found"), t("No such patient here."), 404)
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
            events = _timeline(list(reminders.all()), list(reports.all()), signed.clinic.timezone)
        context = {
            "clinic": signed.clinic, "patient": patient, "events": events, "csrf": signed.csrf,
        }  # fmt: skip
        return TEMPLATES.TemplateResponse(request, "timeline.html", context)

    async def reply(self, request: Request, signed: Signed) -> Response:
        """The staff member's words reach the patient through the bot; the report counts as
        acknowledged, as a reply to an alert in Telegram does."""
        report_id = int(request.path_params["report_id"])
        text = str((await request.form()).get("text") or "").strip()
        async with self._deps.sessions() as db:
            report = await db.get(SymptomReport, report_id)
            if report is None or report.clinic_id != signed.clinic_id:
                return _message(request, t("Not found"), t("No such report here."), 404)
            patient = await db.get(Patient, report.patient_id)
            if patient is None:
                return _message(request, t("Not found"), t("No such report here."), 404)
            if not text:
                return RedirectResponse(f"/console#report-{report_id}", status_code=303)
            await escalations.acknowledge(db, report_id, signed.staff_id, self._deps.clock.now())
        await self._deps.tell_patient(patient.chat_id, relayed(patient, signed.clinic, text))
        return RedirectResponse(f"/console?sent={patient.id}#report-{report_id}", status_code=303)


_ACTIONS = {"ack": escalations.acknowledge, "close": escalations.close}


def _timeline(
    reminders: list[Reminder], reports: list[SymptomReport], timezone: str
) -> list[dict[str, str]]:
    """Reminders and reports as rows of (when, what, state), in the clinic's local time."""
    rows = [(r.due_at, t("Reminder"), r.step_id, str(r.status)) for r in reminders] + [
        (r.created_at, t("Report"), f"“{r.text}”" if r.text else "", f"{r.level} · {r.state}")
        for r in reports
    ]
    return [
        {"when": local_moment(moment, timezone, "en"), "kind": kind, "what": what, "state": state}
        for moment, kind, what, state in sorted(rows, key=lambda row: row[0])
    ]
