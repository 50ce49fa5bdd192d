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

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bot.alerts import finding_labels, level_headline
from bot.console.auth import ConsoleSession, Sessions, csrf_ok
from bot.handlers.staff import relayed, seen_note
from messages.formatting import local_moment
from messages.i18n import translator
from messages.triage import TriageRules
from schedules import escalations
from schedules.catalog import ProtocolCatalog
from schedules.clock import Clock
from schedules.console_links import redeem_link
from schedules.db import SessionFactory
from schedules.models import Clinic, Patient, Staff, SymptomReport

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


def console_routes(deps: ConsoleDeps) -> list[BaseRoute]:
    pages = _Pages(deps)
    return [
        Route("/console/login/{secret}", pages.login_form, methods=["GET"]),
        Route("/console/login", pages.login, methods=["POST"]),
        Route("/console/logout", pages.signed_in(pages.logout), methods=["POST"]),
        Route("/console", pages.signed_in(pages.escalations), methods=["GET"]),
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
