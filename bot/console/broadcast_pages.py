"""Console broadcasts: compose, preview with the exact text and recipient count, confirm,
watch progress, cancel. The same outbox as ``/broadcast`` in the chat (schedules/broadcasts.py):
the daemon's broadcaster sends, paced behind care messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from bot.console.auth import Signed
from messages.i18n import translator
from schedules import broadcasts
from schedules.broadcasts import BroadcastError
from schedules.clock import Clock
from schedules.db import SessionFactory
from schedules.models import Broadcast
from schedules.segments import SegmentError, count_recipients, parse_segment

t = translator("en")
RECENT = 20


class BroadcastPages:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        templates: Jinja2Templates,
        *,
        wake: Callable[[], None],
        not_found: Callable[[Request], Response],
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._templates = templates
        self._wake = wake
        self._not_found = not_found

    async def overview(self, request: Request, signed: Signed) -> Response:
        return await self._overview(request, signed)

    async def _overview(
        self, request: Request, signed: Signed, error: str = "", status: int = 200
    ) -> Response:
        async with self._sessions() as db:
            rows = await db.exec(
                select(Broadcast)
                .where(col(Broadcast.clinic_id) == signed.clinic_id)
                .order_by(col(Broadcast.id).desc())
                .limit(RECENT)
            )
            listed = [(b, await broadcasts.progress(db, b.id or 0)) for b in rows.all()]
        context = {"clinic": signed.clinic, "csrf": signed.csrf, "listed": listed, "error": error}
        return self._templates.TemplateResponse(
            request, "broadcasts.html", context, status_code=status
        )

    async def preview(self, request: Request, signed: Signed) -> Response:
        """A draft with its exact text and how many patients it would reach now."""
        form = await request.form()
        text = str(form.get("text") or "")
        try:
            segment = parse_segment(str(form.get("segment") or "all"))
            broadcasts.check_content(text, None)
        except (SegmentError, BroadcastError) as error:
            return await self._overview(request, signed, str(error), status=400)
        now = self._clock.now()
        async with self._sessions() as db:
            count = await count_recipients(
                db, signed.clinic_id, segment, now, include_unassigned=signed.is_default
            )
            draft = await broadcasts.create_draft(
                db, clinic_id=signed.clinic_id, now=now, text=text, segment=segment,
                created_by=signed.staff_id,
            )  # fmt: skip
        context = {
            "clinic": signed.clinic, "csrf": signed.csrf, "draft": draft, "count": count,
            "segment": form.get("segment") or "all",
        }  # fmt: skip
        return self._templates.TemplateResponse(request, "broadcast_preview.html", context)

    async def send(self, request: Request, signed: Signed) -> Response:
        return await self._act(request, signed, self._confirm)

    async def cancel(self, request: Request, signed: Signed) -> Response:
        return await self._act(request, signed, self._cancel)

    async def _act(
        self,
        request: Request,
        signed: Signed,
        action: Callable[[Broadcast, Signed], Awaitable[None]],
    ) -> Response:
        broadcast_id = int(request.path_params["broadcast_id"])
        async with self._sessions() as db:
            found = await db.get(Broadcast, broadcast_id)
        if found is None or found.clinic_id != signed.clinic_id:
            return self._not_found(request)
        await action(found, signed)
        return RedirectResponse("/console/broadcasts", status_code=303)

    async def _confirm(self, broadcast: Broadcast, signed: Signed) -> None:
        async with self._sessions() as db:
            started = await broadcasts.confirm(
                db, broadcast.id or 0, self._clock.now(), include_unassigned=signed.is_default
            )
        if started:
            self._wake()

    async def _cancel(self, broadcast: Broadcast, signed: Signed) -> None:
        async with self._sessions() as db:
            await broadcasts.cancel(db, broadcast.id or 0, self._clock.now())
