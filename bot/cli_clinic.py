"""`aftercare clinic ...`: create clinics, list them, print their enrolment QR codes.

``create`` prints the clinic's patient link and a single-use owner invite (7 days): the
operator sends the invite to the clinic's owner, who opens it in Telegram and from then
on invites their own staff with ``/invite``. Links need the bot's username
(``--bot-username``, or ``AFTERCARE_BOT_USERNAME``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.qr import qr_png
from bot.settings import Settings
from messages.formatting import local_moment
from schedules.clinics import (
    ClinicError,
    ClinicListing,
    clinic_by_slug,
    create_clinic,
    invite_link,
    list_clinics,
    patient_link,
)
from schedules.clock import SystemClock
from schedules.db import create_schema, make_engine, session_factory
from schedules.models import Clinic, Invite, StaffRole
from schedules.team import create_invite

clinic_app = typer.Typer(help="Clinics: create, list, QR codes.", no_args_is_help=True)
console = Console()
_T = TypeVar("_T")

DatabaseUrl = Annotated[
    str | None, typer.Option(help="SQLAlchemy async URL (default: AFTERCARE_DATABASE_URL)")
]
BotUsername = Annotated[
    str,
    typer.Option(envvar="AFTERCARE_BOT_USERNAME", help="The bot's username, for t.me links"),
]
DEFAULT_BOT = "aftercare_sandbox_bot"


def _in_database(
    database_url: str | None, work: Callable[[AsyncSession, Settings], Awaitable[_T]]
) -> _T:
    """Run ``work`` in a session on the database (schema created if missing); any clinic
    or database error ends the command with a plain message and exit code 2."""
    settings = Settings(database_url=database_url) if database_url else Settings()

    async def run() -> _T:
        engine = make_engine(settings.database_url)
        try:
            await create_schema(engine)
            async with session_factory(engine)() as session:
                return await work(session, settings)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except ClinicError as error:
        console.print(f"[red]error:[/red] {error}", highlight=False)
    except (SQLAlchemyError, OSError) as error:
        console.print(f"[red]database error:[/red] {type(error).__name__}", highlight=False)
    raise typer.Exit(2)


@dataclass(frozen=True)
class Created:
    clinic: Clinic
    invite: Invite


@clinic_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="The clinic's name, as patients read it")],
    tz: Annotated[str, typer.Option(help="IANA timezone, e.g. Europe/Madrid")],
    phone: Annotated[str, typer.Option(help="The contact line urgent replies give")],
    emergency_number: Annotated[str, typer.Option(help='What patients call, e.g. "112"')],
    slug: Annotated[str | None, typer.Option(help="Its id (default: from the name)")] = None,
    bot_username: BotUsername = DEFAULT_BOT,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a clinic; print its patient link and a single-use owner invite (7 days)."""

    async def work(session: AsyncSession, _: Settings) -> Created:
        now = SystemClock().now()
        clinic = await create_clinic(
            session,
            name=name,
            timezone=tz,
            phone=phone,
            emergency_number=emergency_number,
            slug=slug,
            now=now,
        )
        assert clinic.id is not None
        invite = await create_invite(session, clinic.id, StaffRole.OWNER, None, now)
        return Created(clinic, invite)

    made = _in_database(database_url, work)
    clinic, invite = made.clinic, made.invite
    expires = f"{local_moment(invite.expires_at, clinic.timezone, 'en')} {clinic.timezone}"
    typer.echo(f"Created clinic {clinic.slug} ({clinic.name}, {clinic.timezone})")
    typer.echo(f"Patient link: {patient_link(bot_username, clinic)}")
    typer.echo(f"Owner invite (single use, expires {expires}): {invite_link(bot_username, invite)}")


@clinic_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Every clinic with its patients and active staff."""

    async def work(session: AsyncSession, settings: Settings) -> list[ClinicListing]:
        return await list_clinics(session, default_slug=settings.clinic_slug)

    rows = [
        {
            "slug": item.clinic.slug,
            "name": item.clinic.name,
            "timezone": item.clinic.timezone,
            "patients": item.patients,
            "staff": item.staff,
        }
        for item in _in_database(database_url, work)
    ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("slug", "name", "timezone", "patients", "staff")
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    console.print(table)


@clinic_app.command("qr")
def qr(
    slug: Annotated[str, typer.Argument(help="The clinic's slug (see `aftercare clinic list`)")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="PNG file (default: <slug>-qr.png)")
    ] = None,
    bot_username: BotUsername = DEFAULT_BOT,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the QR code of a clinic's patient link as a PNG, to print for the front desk."""

    async def work(session: AsyncSession, _: Settings) -> Clinic:
        clinic = await clinic_by_slug(session, slug)
        if clinic is None:
            raise ClinicError(f'no clinic with slug "{slug}"; `aftercare clinic list` shows them')
        return clinic

    clinic = _in_database(database_url, work)
    url = patient_link(bot_username, clinic)
    target = output or Path(f"{clinic.slug}-qr.png")
    try:
        target.write_bytes(qr_png(url))
    except OSError as error:
        console.print(f"[red]error:[/red] cannot write {target}: {error.strerror}", highlight=False)
        raise typer.Exit(2) from None
    typer.echo(f"Wrote {target}: {url}")
