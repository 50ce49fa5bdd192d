"""Console broadcasts: compose (a live preview and recipient count while typing), preview
with the exact text and count, confirm, watch progress, cancel. The same outbox as
``/broadcast`` in the chat (schedules/broadcasts.py): the daemon's broadcaster sends,
paced behind care messages. Who it goes to is chosen from segments the clinic's protocol
offers (everyone, recently treated, a course or one of its sessions)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from bot.broadcasting import describe
from bot.console.auth import Signed
from bot.console.rendering import message, render
from messages.i18n import Translator
from schedules import broadcasts
from schedules.broadcasts import BroadcastError
from schedules.catalog import ProtocolCatalog, latest_row
from schedules.clock import Clock
from schedules.db import SessionFactory
from schedules.models import Broadcast, BroadcastStatus
from schedules.protocol import ProtocolSpec
from schedules.segments import SegmentError, count_recipients, parse_segment

RECENT = 20
RECENT_DAYS = (7, 14, 30)
MAX_SESSIONS_LISTED = 6  # a longer course is offered as a whole only


class BroadcastPages:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        catalog: ProtocolCatalog,
        *,
        wake: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._catalog = catalog
        self._wake = wake

    async def overview(self, request: Request, signed: Signed) -> Response:
        return await self._overview(request, signed)

    async def recipients(self, request: Request, signed: Signed) -> Response:
        """How many patients a segment reaches now, for the count shown while composing."""
        try:
            segment = parse_segment(request.query_params.get("segment") or "all")
        except SegmentError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        async with self._sessions() as db:
            count = await count_recipients(
                db, signed.clinic_id, segment, self._clock.now(),
                include_unassigned=signed.is_default,
            )  # fmt: skip
        return JSONResponse({"count": count, "who": describe(segment, signed.t)})

    async def _overview(
        self,
        request: Request,
        signed: Signed,
        error: str = "",
        status: int = 200,
        text: str = "",
    ) -> Response:
        async with self._sessions() as db:
            rows = await db.exec(
                select(Broadcast)
                .where(col(Broadcast.clinic_id) == signed.clinic_id)
                .order_by(col(Broadcast.id).desc())
                .limit(RECENT)
            )
            listed = [(b, await broadcasts.progress(db, b.id or 0)) for b in rows.all()]
            current = await latest_row(db, signed.clinic.protocol_slug)
        spec = await self._catalog.spec(current.id) if current and current.id else None
        return render(
            request, signed, "broadcasts.html", status,
            listed=listed, error=error, segments=_segment_choices(spec, signed.t), text=text,
            sending=any(b.status == BroadcastStatus.SENDING for b, _ in listed),
        )  # fmt: skip

    async def preview(self, request: Request, signed: Signed) -> Response:
        """A draft with its exact text and how many patients it would reach now."""
        form = await request.form()
        text = str(form.get("text") or "")
        try:
            segment = parse_segment(str(form.get("segment") or "all"))
            broadcasts.check_content(text, None)
        except (SegmentError, BroadcastError) as error:
            return await self._overview(request, signed, str(error), status=400, text=text)
        now = self._clock.now()
        async with self._sessions() as db:
            count = await count_recipients(
                db, signed.clinic_id, segment, now, include_unassigned=signed.is_default
            )
            draft = await broadcasts.create_draft(
                db, clinic_id=signed.clinic_id, now=now, text=text, segment=segment,
                created_by=signed.staff_id,
            )  # fmt: skip
        who = describe(segment, signed.t)
        return render(request, signed, "broadcast_preview.html", draft=draft, count=count, who=who)

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
            t = signed.t
            return message(request, t("Not found"), t("No such thing here."), 404, signed.language)
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


def _segment_choices(spec: ProtocolSpec | None, t: Translator) -> list[tuple[str, str]]:
    """(segment, words) the compose form offers: everyone, recently treated, each course."""
    choices = [("all", t("All active patients"))]
    choices += [(f"recent:{days}", t("Treated in the last {days} days").format(days=days))
                for days in RECENT_DAYS]  # fmt: skip
    if spec is None:
        return choices
    for course_id, course in (spec.courses or {}).items():
        name = course.name.get(t.locale) or course.name.get(spec.base_locale, course_id)
        choices.append((f"course:{course_id}", t("{course} course").format(course=name)))
        if course.sessions is not None and course.sessions <= MAX_SESSIONS_LISTED:
            choices += [
                (f"course:{course_id}:{n}",
                 t("{course} course, treatment {n}").format(course=name, n=n))
                for n in range(1, course.sessions + 1)
            ]  # fmt: skip
    return choices
