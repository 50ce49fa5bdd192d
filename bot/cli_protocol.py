"""`aftercare protocol ...`: check protocol files; publish a clinic's versions, roll back."""

from __future__ import annotations

import asyncio
import contextlib
import time as time_module
from collections.abc import AsyncIterator, Awaitable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.settings import Settings, load_settings
from schedules import protocol_updates
from schedules.clinics import clinic_by_slug
from schedules.db import SessionFactory, create_schema, make_engine, session_factory
from schedules.errors import AftercareError
from schedules.models import Clinic
from schedules.protocol import ProtocolSpec, load_protocol

console = Console()
protocol_app = typer.Typer(
    help="Check protocol files; publish a clinic's own versions and roll them back.",
    no_args_is_help=True,
)


@protocol_app.command("check")
def protocol_check(path: Annotated[str, typer.Argument(help="A protocol YAML file")]) -> None:
    """Validate a protocol file; every problem names the file, the step and the field."""
    try:
        spec = load_protocol(path)
    except AftercareError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    typer.echo(f"{path}: OK — protocol {spec.slug} v{spec.version}, {len(spec.steps)} steps")


ClinicOption = Annotated[str, typer.Option("--clinic", help="The clinic's slug")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Publish without asking")]
DatabaseOption = Annotated[
    str | None, typer.Option(help="SQLAlchemy async URL (default: AFTERCARE_DATABASE_URL)")
]


@protocol_app.command("publish")
def protocol_publish(
    path: Annotated[str, typer.Argument(help="The clinic's protocol YAML file")],
    clinic: ClinicOption,
    note: Annotated[
        str, typer.Option(help="What affected patients are told")
    ] = protocol_updates.DEFAULT_NOTE,
    yes: YesOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Publish a new version of a clinic's protocol: validate, show the changes, confirm,
    re-plan the pending reminders of its active treatments and queue the change note."""
    try:
        spec = load_protocol(path)
    except AftercareError as error:
        _fail(error)
    job = _ProtocolJob(load_settings(database_url=database_url), clinic, yes)
    _run_protocol_job(job.publish(spec, note))


@protocol_app.command("rollback")
def protocol_rollback(
    clinic: ClinicOption,
    to: Annotated[int, typer.Option("--to", min=1, help="The version to go back to")],
    note: Annotated[
        str | None, typer.Option(help="What affected patients are told (default: a plain note)")
    ] = None,
    yes: YesOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Go back to an earlier version: it is published again as a new version."""
    job = _ProtocolJob(load_settings(database_url=database_url), clinic, yes)
    _run_protocol_job(job.rollback(to, note))


@protocol_app.command("versions")
def protocol_versions(clinic: ClinicOption, database_url: DatabaseOption = None) -> None:
    """List a clinic's own protocol versions, oldest first."""
    job = _ProtocolJob(load_settings(database_url=database_url), clinic, yes=True)
    _run_protocol_job(job.versions())


def _fail(error: BaseException) -> NoReturn:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(2) from None


def _run_protocol_job(job: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(job)
    except AftercareError as error:
        _fail(error)


class _ProtocolJob:
    """One `aftercare protocol` command against the database: find the clinic, act, report."""

    def __init__(self, settings: Settings, clinic_slug: str, yes: bool) -> None:
        self.settings, self.clinic_slug, self.yes = settings, clinic_slug, yes

    async def publish(self, spec: ProtocolSpec, note: str) -> None:
        async with self._clinic() as (sessions, clinic):
            async with sessions() as session:
                proposal = await protocol_updates.propose(session, clinic, spec)
            if self._confirmed(proposal, "Publish"):
                await self._report(
                    protocol_updates.publish_for_clinic(
                        sessions, clinic, spec, change_note=note, created_by="cli",
                        now=datetime.now(UTC), include_unassigned=self._default_clinic(clinic),
                    )
                )  # fmt: skip

    async def rollback(self, version: int, note: str | None) -> None:
        async with self._clinic() as (sessions, clinic):
            async with sessions() as session:
                spec = await protocol_updates.version_spec(session, clinic, version)
                proposal = await protocol_updates.propose(session, clinic, spec)
            if self._confirmed(proposal, f"Roll back to version {version}, publishing"):
                await self._report(
                    protocol_updates.rollback(
                        sessions, clinic, version, created_by="cli", now=datetime.now(UTC),
                        note=note, include_unassigned=self._default_clinic(clinic),
                    )
                )  # fmt: skip

    async def versions(self) -> None:
        async with self._clinic() as (sessions, clinic), sessions() as session:
            rows = await protocol_updates.clinic_versions(session, clinic)
        if not rows:
            typer.echo(f"{clinic.slug} follows the shared {clinic.protocol_slug} protocol.")
            return
        table = Table("version", "published (UTC)", "by", "note", title=rows[-1].slug)
        for row in rows:
            current = " (current)" if row is rows[-1] else ""
            table.add_row(
                Text(f"{row.version}{current}"),
                Text(f"{row.created_at:%Y-%m-%d %H:%M}"),
                Text(row.created_by or ""),
                Text(row.change_note or ""),
            )
        console.print(table)

    @contextlib.asynccontextmanager
    async def _clinic(self) -> AsyncIterator[tuple[SessionFactory, Clinic]]:
        engine = make_engine(self.settings.database_url)
        try:
            await create_schema(engine)
            sessions = session_factory(engine)
            async with sessions() as session:
                clinic = await clinic_by_slug(session, self.clinic_slug)
            if clinic is None:
                raise protocol_updates.PublishError(f'there is no clinic "{self.clinic_slug}"')
            yield sessions, clinic
        finally:
            await engine.dispose()

    def _default_clinic(self, clinic: Clinic) -> bool:
        """Patients with no clinic of their own belong to the operator's configured one."""
        return clinic.slug == self.settings.clinic_slug

    def _confirmed(self, proposal: protocol_updates.Proposal, verb: str) -> bool:
        if proposal.identical:
            typer.echo("No changes: this is what the clinic's current version says.")
            return True  # publishing it again writes nothing, but finishes an interrupted move
        current = proposal.current
        typer.echo(f"Changes from {current.slug} v{current.version}:" if current else "Steps:")
        for line in proposal.changes:
            typer.echo(f"  {line}")
        question = f"{verb} {proposal.line} v{proposal.next_version}?"
        if self.yes or typer.confirm(question, default=False):
            return True
        typer.echo("Nothing published.")
        raise typer.Exit(1)

    async def _report(self, publishing: Awaitable[protocol_updates.Outcome]) -> None:
        started = time_module.perf_counter()
        outcome = await publishing
        seconds = time_module.perf_counter() - started
        if outcome.protocol is None:
            return
        if outcome.published:
            typer.echo(f"Published {outcome.protocol.slug} v{outcome.protocol.version}.")
        if outcome.published or outcome.moved:
            typer.echo(
                f"{outcome.moved} active treatments moved to it, {outcome.replanned} re-planned"
                f" ({outcome.added} reminders added, {outcome.rescheduled} moved,"
                f" {outcome.cancelled} cancelled) in {seconds:.1f} s;"
                f" change note queued for {outcome.notified} patients."
            )
