"""Console protocols: the active version, an upload checked with its problems beside their
step, the diff, publish, roll back. The same publishing as a document sent to the bot
(schedules/protocol_updates.py). Every staff member may look; only an owner publishes.

Nothing waits on the server between "check" and "publish": the checked YAML travels in the
form and is validated again on publish, with the version it was compared against, so a
page left open never publishes over a version published since, unseen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from bot.console.auth import Signed
from bot.console.rendering import render
from messages.render import clinic_context, render_step
from schedules import protocol_updates
from schedules.catalog import ProtocolCatalog, latest_row
from schedules.clock import Clock
from schedules.db import SessionFactory
from schedules.errors import ProtocolError
from schedules.models import Protocol
from schedules.protocol import ProtocolSpec, Step, parse_protocol
from schedules.protocol_diff import Rewording, describe_timing, rewordings
from schedules.protocol_problems import raw_step_id
from schedules.protocol_updates import Outcome, Proposal, PublishError
from schedules.protocol_yaml import read_yaml

MAX_UPLOAD_BYTES = 256 * 1024
log = logging.getLogger(__name__)


@dataclass
class StepCheck:
    """One step of an uploaded file as the check page lists it, with its problems."""

    name: str
    problems: list[str] = field(default_factory=list)


class ProtocolPages:
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
        """The version the clinic follows, step by step, and its own versions."""
        async with self._sessions() as db:
            current = await latest_row(db, signed.clinic.protocol_slug)
            versions = await protocol_updates.clinic_versions(db, signed.clinic)
        spec = await self._catalog.spec(current.id) if current and current.id else None
        steps = (
            [_step_row(spec, step, signed.language, signed.clinic.name) for step in spec.steps]
            if spec
            else []
        )
        return render(
            request, signed, "protocols.html",
            current=current, steps=steps, versions=list(reversed(versions)),
        )  # fmt: skip

    async def check(self, request: Request, signed: Signed) -> Response:
        """An uploaded (or pasted) file: its problems beside their steps, or the diff."""
        if not signed.is_owner:
            return self._owners_only(request, signed)
        form = await request.form()
        name, text, unreadable = await _uploaded(form.get("file"), str(form.get("text") or ""))
        if unreadable:
            return self._problems(request, signed, name, [], [unreadable])
        try:
            spec = parse_protocol(text, name)
        except ProtocolError as error:
            steps, general = _located(text, error)
            return self._problems(request, signed, name, steps, general)
        return await self._offer(request, signed, spec, text=text)

    async def rollback(self, request: Request, signed: Signed) -> Response:
        """What going back to version N would change, with a Publish button."""
        if not signed.is_owner:
            return self._owners_only(request, signed)
        number = int(request.path_params["version"])
        try:
            async with self._sessions() as db:
                spec = await protocol_updates.version_spec(db, signed.clinic, number)
        except PublishError as error:
            return render(request, signed, "message_nav.html", status=404, text=str(error))
        return await self._offer(request, signed, spec, rollback_to=number)

    async def publish(self, request: Request, signed: Signed) -> Response:
        """Publish what the owner saw, unless another version came in between."""
        if not signed.is_owner:
            return self._owners_only(request, signed)
        form = await request.form()
        rollback_to = str(form.get("rollback") or "")
        note = str(form.get("note") or "").strip() or None
        try:
            if rollback_to.isdigit():
                async with self._sessions() as db:
                    spec = await protocol_updates.version_spec(db, signed.clinic, int(rollback_to))
            else:
                spec = parse_protocol(str(form.get("yaml") or ""), "the checked file")
            async with self._sessions() as db:
                proposal = await protocol_updates.propose(db, signed.clinic, spec)
        except (ProtocolError, PublishError) as error:
            return render(request, signed, "message_nav.html", status=400, text=str(error))
        if _version_id(proposal.current) != str(form.get("base") or ""):
            return await self._offer(
                request, signed, spec, text=str(form.get("yaml") or ""),
                rollback_to=int(rollback_to) if rollback_to.isdigit() else None, moved_on=True,
            )  # fmt: skip
        try:
            outcome = await self._publish(signed, spec, note, rollback_to)
        except PublishError as error:
            return render(request, signed, "message_nav.html", status=409, text=str(error))
        self._wake()
        log.info(
            "protocol published from the console: clinic %s v%s, %d treatments moved,"
            " %d notes queued", signed.clinic_id,
            outcome.protocol.version if outcome.protocol else None, outcome.moved, outcome.notified,
        )  # fmt: skip
        return render(request, signed, "protocol_published.html", outcome=outcome)

    async def _publish(
        self, signed: Signed, spec: ProtocolSpec, note: str | None, rollback_to: str
    ) -> Outcome:
        common: dict[str, Any] = {
            "created_by": f"staff:{signed.staff_id}",
            "now": self._clock.now(),
            "include_unassigned": signed.is_default,
        }
        if rollback_to.isdigit():
            return await protocol_updates.rollback(
                self._sessions, signed.clinic, int(rollback_to), note=note, **common
            )
        return await protocol_updates.publish_for_clinic(
            self._sessions, signed.clinic, spec,
            change_note=note or protocol_updates.DEFAULT_NOTE, **common,
        )  # fmt: skip

    async def _offer(
        self,
        request: Request,
        signed: Signed,
        spec: ProtocolSpec,
        *,
        text: str = "",
        rollback_to: int | None = None,
        moved_on: bool = False,
    ) -> Response:
        try:
            async with self._sessions() as db:
                proposal = await protocol_updates.propose(db, signed.clinic, spec)
        except PublishError as error:
            return render(request, signed, "message_nav.html", status=400, text=str(error))
        reworded = await self._rewordings(proposal, spec, signed.language)
        return render(
            request, signed, "protocol_check.html",
            proposal=proposal, yaml=text, rollback_to=rollback_to, moved_on=moved_on,
            base=_version_id(proposal.current), rewordings=reworded,
            changes=[_change(line) for line in proposal.changes],
            default_note=protocol_updates.DEFAULT_NOTE,
        )  # fmt: skip

    async def _rewordings(
        self, proposal: Proposal, spec: ProtocolSpec, language: str
    ) -> list[Rewording]:
        """The step texts publishing would reword, in the reader's language if the protocol
        has it, else in the protocol's first language."""
        current = proposal.current
        if current is None or current.id is None:
            return []
        shown = language if language in spec.locales else spec.base_locale
        old = await self._catalog.spec(current.id)
        return [change for change in rewordings(old, spec) if change.locale == shown]

    def _problems(
        self,
        request: Request,
        signed: Signed,
        name: str,
        steps: list[StepCheck],
        general: list[str],
    ) -> Response:
        return render(
            request, signed, "protocol_problems.html", status=400,
            name=name, steps=steps, general=general,
        )  # fmt: skip

    def _owners_only(self, request: Request, signed: Signed) -> Response:
        text = signed.t("Only the clinic's owner can publish or roll back its protocol.")
        return render(request, signed, "message_nav.html", status=403, text=text)


async def _uploaded(file: object, pasted: str) -> tuple[str, str, str]:
    """(file name, text, why it cannot be read) of a chosen file, else of the pasted text."""
    if isinstance(file, UploadFile) and file.filename:
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        name = file.filename
        if len(data) > MAX_UPLOAD_BYTES:
            return name, "", f"{name}: the file is larger than 256 KB"
        try:
            return name, data.decode("utf-8"), ""
        except UnicodeDecodeError:
            return name, "", f"{name}: the file is not UTF-8 text"
    if not pasted.strip():
        return "the pasted text", "", "Choose a protocol file (.yaml) or paste one."
    return "the pasted text", pasted, ""


def _located(text: str, error: ProtocolError) -> tuple[list[StepCheck], list[str]]:
    """Every step of the file with its own problems, and the problems of the whole file."""
    try:
        raw = read_yaml(text)
    except yaml.YAMLError:
        raw = None
    raw_steps = raw.get("steps") if isinstance(raw, dict) else None
    count = len(raw_steps) if isinstance(raw_steps, list) else 0
    steps = [StepCheck(raw_step_id(raw, index) or f"steps[{index}]") for index in range(count)]
    general: list[str] = []
    for index, line in error.located:
        if index is not None and 0 <= index < len(steps):
            steps[index].problems.append(line)
        else:
            general.append(line)
    return steps, general


def _step_row(spec: ProtocolSpec, step: Step, language: str, clinic: str) -> dict[str, str]:
    """A step as a patient reads it: in the reader's language if the protocol has it, its
    placeholders filled as in the reminders the bot sends."""
    text = render_step(spec, step.id, language, clinic_context(clinic)).text
    return {"id": step.id, "kind": str(step.kind), "when": describe_timing(step), "text": text}


def _change(line: str) -> dict[str, str]:
    """A diff line with its kind for colour: added, removed or changed."""
    kind = {"+": "added", "-": "removed"}.get(line[:1], "changed")
    return {"kind": kind, "line": line}


def _version_id(row: Protocol | None) -> str:
    return str(row.id) if row is not None and row.id is not None else "0"
