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
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bot.alerts import finding_labels, level_headline
from bot.console.auth import ConsoleSession, Sessions, csrf_ok
from bot.console.broadcast_pages import BroadcastPages
from bot.handlers.staff import relayed, seen_note
from bot.handlers.staff_tools import stage_names
from messages.formatting import local_moment
from messages.i18n import translator
from messages.triage import TriageRules
from schedules import escalations
from schedules.catalog import ProtocolCatalog
from schedules.clinic_stats import PatientRow, patient_rows
from schedules.clock import Clock
from schedules.console_links import redeem_link
from schedules.db import SessionFactory
from schedules.models import Clinic, Patient, Reminder, Staff, SymptomReport

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
t = translator("en")  # staff read English until clinics choose a language
Page = Callable[[Request, ConsoleSession], Awaitable[Response]]


@dataclass(frozen=True)
class ConsoleDeps:
    sessions: SessionFactory
    clock: Clock
    cookies: Sessions
    rules: TriageRules
    catalog: ProtocolCatalog
    tell_patient: Callable[[int, str], Awaitable[None]]  # (chat id, text) through the bot
    default_clinic_slug: str  # its staff also see patients who joined without a clinic link
    wake: Callable[[], None]  # something new to send: the daemon's dispatch loop runs


def console_routes(deps: ConsoleDeps) -> list[BaseRoute]:
    pages = _Pages(deps)
    sends = BroadcastPages(
        deps.sessions, deps.clock, TEMPLATES,
        default_clinic_slug=deps.default_clinic_slug, wake=deps.wake, not_found=_not_found,
    )  # fmt: skip
    return [
        Route("/console/broadcasts", pages.signed_in(sends.overview), methods=["GET"]),
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
            session = self._deps.cookies.read(request)
            if session is None or not await self._still_staff(session):
                text = t("Send /console to the bot for a sign-in link.")
                return _message(request, t("Please sign in"), text, 401)
            if request.method == "POST":
                form = await request.form()
                if not csrf_ok(session, form.get("csrf")):
                    return _message(request, t("Refused"), t("The form has expired."), 403)
            return await page(request, session)

        return guarded

    async def _still_staff(self, session: ConsoleSession) -> bool:
        async with self._deps.sessions() as db:
            member = await db.get(Staff, session.staff_id)
        return member is not None and member.active and member.clinic_id == session.clinic_id

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

    async def logout(self, request: Request, session: ConsoleSession) -> Response:
        response = RedirectResponse("/console", status_code=303)
        self._deps.cookies.end(response)
        return response

    async def escalations(self, request: Request, session: ConsoleSession) -> Response:
        async with self._deps.sessions() as db:
            clinic = await db.get(Clinic, session.clinic_id)
            queue = await escalations.review_queue(db, session.clinic_id, limit=100)
        items = [await self._item(report, clinic) for report in queue]
        sent = request.query_params.get("sent")
        context = {"clinic": clinic, "reports": items, "csrf": session.csrf, "sent": sent}
        return TEMPLATES.TemplateResponse(request, "escalations.html", context)

    async def _item(self, report: SymptomReport, clinic: Clinic | None) -> dict[str, Any]:
        labels = await finding_labels(report, self._deps.rules, self._deps.catalog)
        day = (
            t("day {day} after treatment").format(day=report.day)
            if report.day is not None
            else t("no treatment date")
        )
        when = local_moment(report.created_at, clinic.timezone if clinic else "UTC", "en")
        return {
            "report": report,
            "headline": level_headline(report.level, t),
            "day": day,
            "when": when,
            "findings": "; ".join(labels),
        }

    async def act_on_escalation(self, request: Request, session: ConsoleSession) -> Response:
        report_id = int(request.path_params["report_id"])
        action = request.path_params["action"]
        now = self._deps.clock.now()
        async with self._deps.sessions() as db:
            report = await db.get(SymptomReport, report_id)
            if report is None or report.clinic_id != session.clinic_id or action not in _ACTIONS:
                return _message(request, t("Not found"), t("No such report here."), 404)
            done = await _ACTIONS[action](db, report_id, session.staff_id, now)
            patient = await db.get(Patient, report.patient_id)
            clinic = await db.get(Clinic, session.clinic_id)
        if done and action == "ack" and patient and report.level in escalations.REALERT_EVERY:
            await self._deps.tell_patient(patient.chat_id, seen_note(patient, clinic))
        return RedirectResponse(f"/console#report-{report_id}", status_code=303)

    async def _clinic(self, db: AsyncSession, session: ConsoleSession) -> tuple[Clinic, bool]:
        clinic = await db.get(Clinic, session.clinic_id)
        assert clinic is not None  # a live session's member belongs to it
        return clinic, clinic.slug == self._deps.default_clinic_slug

    async def patients(self, request: Request, session: ConsoleSession) -> Response:
        """The clinic's patients by course stage, with their flags."""
        async with self._deps.sessions() as db:
            clinic, default = await self._clinic(db, session)
            rows = await patient_rows(
                db, clinic.id or 0, self._deps.clock.now(), is_default=default
            )
        names = stage_names(t)
        stages: dict[str, list[PatientRow]] = {}
        for row in rows:
            stages.setdefault(names.get(row.stage, row.stage), []).append(row)
        context = {"clinic": clinic, "stages": stages, "csrf": session.csrf}
        return TEMPLATES.TemplateResponse(request, "patients.html", context)

    async def timeline(self, request: Request, session: ConsoleSession) -> Response:
        """One patient's reminders (sent and coming) and reports, in time order."""
        patient_id = int(request.path_params["patient_id"])
        async with self._deps.sessions() as db:
            clinic, default = await self._clinic(db, session)
            patient = await db.get(Patient, patient_id)
            mine = patient is not None and (
                patient.clinic_id == clinic.id or (default and patient.clinic_id is None)
            )
            if patient is None or not mine:
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
            events = _timeline(list(reminders.all()), list(reports.all()), clinic.timezone)
        context = {"clinic": clinic, "patient": patient, "events": events, "csrf": session.csrf}
        return TEMPLATES.TemplateResponse(request, "timeline.html", context)

    async def reply(self, request: Request, session: ConsoleSession) -> Response:
        """The staff member's words reach the patient through the bot; the report counts as
        acknowledged, as a reply to an alert in Telegram does."""
        report_id = int(request.path_params["report_id"])
        text = str((await request.form()).get("text") or "").strip()
        async with self._deps.sessions() as db:
            report = await db.get(SymptomReport, report_id)
            if report is None or report.clinic_id != session.clinic_id:
                return _message(request, t("Not found"), t("No such report here."), 404)
            patient = await db.get(Patient, report.patient_id)
            clinic = await db.get(Clinic, session.clinic_id)
            if patient is None:
                return _message(request, t("Not found"), t("No such report here."), 404)
            if not text:
                return RedirectResponse(f"/console#report-{report_id}", status_code=303)
            await escalations.acknowledge(db, report_id, session.staff_id, self._deps.clock.now())
        await self._deps.tell_patient(patient.chat_id, relayed(patient, clinic, text))
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
