"""The console's routes and sign-in: a link from the bot, a session cookie, a CSRF check.

Every page and action is scoped to the signed-in staff member's clinic: an object of
another clinic is answered 404, exactly as one that does not exist. Forms are POSTs with
the session's CSRF token; a missing or wrong token is 403.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.console.auth import ConsoleSession, Sessions, Signed, csrf_ok
from bot.console.broadcast_pages import BroadcastPages
from bot.console.escalation_pages import EscalationPages
from bot.console.patient_pages import PatientPages
from bot.console.protocol_pages import ProtocolPages
from bot.console.rendering import message, page
from messages.i18n import pick_locale, translator
from messages.triage import TriageRules
from schedules.catalog import ProtocolCatalog
from schedules.clock import Clock
from schedules.console_links import redeem_link
from schedules.db import SessionFactory
from schedules.models import Clinic, Staff, StaffRole

Page = Callable[[Request, Signed], Awaitable[Response]]
_PAGES = re.compile(r"^/console(/patients(/\d+)?|/broadcasts|/protocols)?$")  # pages to GET


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
    sign = _SignIn(deps)
    on = sign.signed_in
    reports = EscalationPages(
        deps.sessions, deps.clock, deps.rules, deps.catalog,
        tell_patient=deps.tell_patient, photo_bytes=deps.photo_bytes,
    )  # fmt: skip
    patients = PatientPages(deps.sessions, deps.clock)
    sends = BroadcastPages(deps.sessions, deps.clock, deps.catalog, wake=deps.wake)
    protocols = ProtocolPages(deps.sessions, deps.clock, deps.catalog, wake=deps.wake)
    get, post = ["GET"], ["POST"]
    return [
        Route("/console/login/{secret}", sign.login_form, methods=get),
        Route("/console/login", sign.login, methods=post),
        Route("/console/logout", on(sign.logout), methods=post),
        Route("/console/language", on(sign.language), methods=post),
        Route("/console", on(reports.overview), methods=get),
        Route("/console/escalations/{report_id:int}/photo", on(reports.photo), methods=get),
        Route("/console/escalations/{report_id:int}/reply", on(reports.reply), methods=post),
        Route("/console/escalations/{report_id:int}/{action:str}", on(reports.act), methods=post),
        Route("/console/patients", on(patients.overview), methods=get),
        Route("/console/patients/{patient_id:int}", on(patients.timeline), methods=get),
        Route("/console/broadcasts", on(sends.overview), methods=get),
        Route("/console/broadcasts/recipients", on(sends.recipients), methods=get),
        Route("/console/broadcasts/preview", on(sends.preview), methods=post),
        Route("/console/broadcasts/{broadcast_id:int}/send", on(sends.send), methods=post),
        Route("/console/broadcasts/{broadcast_id:int}/cancel", on(sends.cancel), methods=post),
        Route("/console/protocols", on(protocols.overview), methods=get),
        Route("/console/protocols/check", on(protocols.check), methods=post),
        Route("/console/protocols/publish", on(protocols.publish), methods=post),
        Route("/console/protocols/rollback/{version:int}", on(protocols.rollback), methods=post),
    ]


class _SignIn:
    def __init__(self, deps: ConsoleDeps) -> None:
        self._deps = deps

    def signed_in(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        """Only for a live session of an active staff member; POSTs need the CSRF token."""

        async def guarded(request: Request) -> Response:
            cookie = self._deps.cookies.read(request)
            signed = await self._signed(cookie) if cookie is not None else None
            try:
                if cookie is None or signed is None:
                    t = translator("en")
                    text = t("Send /console to the bot for a sign-in link.")
                    return message(request, t("Please sign in"), text, 401)
                if request.method == "POST":
                    form = await request.form()
                    if not csrf_ok(cookie, form.get("csrf")):
                        t = signed.t
                        text = t("The form has expired.")
                        return message(request, t("Refused"), text, 403, signed.language)
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
        return Signed(
            cookie.staff_id,
            clinic,
            is_default=clinic.slug == self._deps.default_clinic_slug,
            csrf=cookie.csrf,
            is_owner=member.role == StaffRole.OWNER,
            language=cookie.language,
        )

    async def login_form(self, request: Request) -> Response:
        """A button, not an instant sign-in: link previews and scanners fetch GETs."""
        language = pick_locale(request.query_params.get("lang"))
        context = {
            "secret": request.path_params["secret"], "lang": language, "t": translator(language),
        }  # fmt: skip
        return page(request, "login.html", context)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        secret = form.get("secret")
        language = pick_locale(str(form.get("lang") or ""))
        member = None
        if isinstance(secret, str):
            async with self._deps.sessions() as db:
                member = await redeem_link(db, secret, self._deps.clock.now())
        if member is None or member.id is None:
            t = translator(language)
            text = t(
                "This link was already used or has expired. Send /console to the bot for a new one."
            )
            return message(request, t("Link not valid"), text, 403, language)
        response = RedirectResponse("/console", status_code=303)
        self._deps.cookies.start(response, member.id, member.clinic_id, language)
        return response

    async def language(self, request: Request, signed: Signed) -> Response:
        """The console in another language: the session goes on with a new cookie."""
        language = pick_locale(str((await request.form()).get("lang") or ""))
        back = urlsplit(request.headers.get("referer", "")).path
        response = RedirectResponse(back if _PAGES.match(back) else "/console", 303)
        self._deps.cookies.start(response, signed.staff_id, signed.clinic_id, language)
        return response

    async def logout(self, request: Request, signed: Signed) -> Response:
        response = RedirectResponse("/console", status_code=303)
        self._deps.cookies.end(response)
        return response
