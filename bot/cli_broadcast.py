"""`aftercare broadcast`: send a clinic's message to a segment of its patients.

The command writes the rows (a confirmed broadcast and one delivery per recipient); the
running daemon delivers them, paced and resumable, exactly as it does a broadcast sent
from the chat. ``watch`` follows the deliveries from the database with a progress bar.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import col, select

from bot.broadcasting import describe, grouped, report_text
from bot.settings import Settings
from messages.i18n import translator
from schedules import broadcasts, segments
from schedules.broadcasts import BroadcastError
from schedules.clinics import clinic_by_slug
from schedules.clock import SystemClock
from schedules.db import SessionFactory, create_schema, make_engine, session_factory
from schedules.models import Broadcast, BroadcastStatus, Clinic
from schedules.segments import SegmentError, parse_segment, segment_from_json

broadcast_app = typer.Typer(help="Broadcast to a clinic's patients.", no_args_is_help=True)
console = Console()
t = translator("en")
_T = TypeVar("_T")

DatabaseOption = Annotated[
    str | None, typer.Option(help="SQLAlchemy async URL (default: AFTERCARE_DATABASE_URL)")
]


def _run(database_url: str | None, work: Callable[[SessionFactory], Awaitable[_T]]) -> _T:
    url = database_url or Settings().database_url

    async def go() -> _T:
        engine = make_engine(url)
        try:
            await create_schema(engine)  # harmless on an up-to-date database
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _default_slug() -> str:
    return Settings().clinic_slug


@broadcast_app.command("send")
def send(
    clinic: Annotated[str, typer.Option(help="The clinic's slug")],
    text: Annotated[str | None, typer.Option(help="The message")] = None,
    file: Annotated[
        Path | None, typer.Option(help="Read the message from this UTF-8 file", exists=True)
    ] = None,
    photo: Annotated[
        str | None, typer.Option(help="A Telegram file_id to send, the text as its caption")
    ] = None,
    segment: Annotated[
        str, typer.Option(help="all | recent:<days> | protocol:<slug> | course:<id>[:<session>]")
    ] = "all",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking")] = False,
    watch: Annotated[bool, typer.Option(help="Follow the delivery with a progress bar")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Create a broadcast, show who gets it, and (confirmed) queue it for the daemon."""
    if (text is None) == (file is None):
        raise typer.BadParameter("give exactly one of --text and --file")
    body = text if text is not None else file.read_text(encoding="utf-8") if file else ""
    try:
        chosen = parse_segment(segment)
        broadcasts.check_content(body, photo)
    except (SegmentError, BroadcastError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    include_unassigned = clinic == _default_slug()
    clock = SystemClock()

    async def draft(sessions: SessionFactory) -> tuple[int, int]:
        async with sessions() as session:
            found = await clinic_by_slug(session, clinic)
            if found is None or found.id is None:
                console.print(f"[red]error:[/red] no clinic with the slug {clinic!r}")
                raise typer.Exit(2)
            made = await broadcasts.create_draft(
                session,
                clinic_id=found.id,
                now=clock.now(),
                text=body,
                photo_file_id=photo,
                segment=chosen,
            )
            count = await segments.count_recipients(
                session, found.id, chosen, clock.now(), include_unassigned=include_unassigned
            )
            assert made.id is not None
            return made.id, count

    broadcast_id, count = _run(database_url, draft)
    console.print(Panel(body or "(photo only)", title="What patients will see", expand=False))
    if photo:
        console.print(f"with the photo {photo}")
    console.print(
        f"Broadcast #{broadcast_id} goes to [bold]{grouped(count)}[/bold] "
        f"recipient{'' if count == 1 else 's'} ({describe(chosen, t)})."
    )
    if count == 0:
        _run(database_url, lambda sessions: _cancel(sessions, broadcast_id))
        console.print("Nobody matches that segment; nothing was sent.")
        raise typer.Exit(1)
    if not yes and not typer.confirm("Send it?", default=False):
        _run(database_url, lambda sessions: _cancel(sessions, broadcast_id))
        console.print("Not sent; the draft is cancelled.")
        raise typer.Exit(1)

    async def start(sessions: SessionFactory) -> int | None:
        async with sessions() as session:
            return await broadcasts.confirm(
                session, broadcast_id, clock.now(), include_unassigned=include_unassigned
            )

    queued = _run(database_url, start)
    if queued is None:
        console.print(f"[red]error:[/red] broadcast #{broadcast_id} was no longer a draft")
        raise typer.Exit(1)
    console.print(
        f"Queued broadcast #{broadcast_id} for {grouped(queued)} "
        f"recipient{'' if queued == 1 else 's'}; the running bot "
        f"sends it. Follow it with: aftercare broadcast watch {broadcast_id}"
    )
    if watch:
        _watch(broadcast_id, database_url, interval=0.5, timeout=None)


async def _cancel(sessions: SessionFactory, broadcast_id: int) -> bool:
    async with sessions() as session:
        return await broadcasts.cancel(session, broadcast_id, SystemClock().now())


async def _snapshot(
    sessions: SessionFactory, broadcast_id: int
) -> tuple[Broadcast | None, broadcasts.Progress]:
    async with sessions() as session:
        found = await session.get(Broadcast, broadcast_id)
        return found, await broadcasts.progress(session, broadcast_id)


@broadcast_app.command("status")
def status(
    broadcast_id: Annotated[int, typer.Argument(help="The broadcast's number")],
    database_url: DatabaseOption = None,
) -> None:
    """Where a broadcast stands: its state and its deliveries by outcome."""
    found, counts = _run(database_url, lambda sessions: _snapshot(sessions, broadcast_id))
    if found is None:
        console.print(f"[red]error:[/red] no broadcast #{broadcast_id}")
        raise typer.Exit(2)
    table = Table(f"broadcast #{broadcast_id}", "")
    table.add_row("status", found.status)
    table.add_row("audience", _audience(found))
    for name in ("total", "sent", "blocked", "skipped", "failed", "cancelled", "pending"):
        table.add_row(name, grouped(getattr(counts, name)))
    if counts.claimed:
        table.add_row("being sent", grouped(counts.claimed))
    console.print(table)
    if found.finished_at is not None:
        console.print(report_text(counts, t, cancelled=found.status == BroadcastStatus.CANCELLED))


@broadcast_app.command("watch")
def watch(
    broadcast_id: Annotated[int, typer.Argument(help="The broadcast's number")],
    interval: Annotated[float, typer.Option(help="Seconds between looks at the database")] = 0.5,
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """A progress bar from the database until the broadcast is finished."""
    _watch(broadcast_id, database_url, interval=interval, timeout=timeout)


def _watch(
    broadcast_id: int, database_url: str | None, *, interval: float, timeout: float | None
) -> None:
    async def follow(sessions: SessionFactory) -> tuple[Broadcast | None, broadcasts.Progress]:
        loop = asyncio.get_running_loop()
        give_up = None if timeout is None else loop.time() + timeout
        columns = (
            TextColumn("#{task.fields[id]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("sending", total=None, id=broadcast_id, detail="")
            while True:
                found, counts = await _snapshot(sessions, broadcast_id)
                if found is None:
                    return None, counts
                detail = f"sent {grouped(counts.sent)}, blocked {grouped(counts.blocked)}"
                if counts.skipped or counts.failed:
                    detail += (
                        f", skipped {grouped(counts.skipped)}, failed {grouped(counts.failed)}"
                    )
                bar.update(task, total=counts.total, completed=counts.handled, detail=detail)
                if found.finished_at is not None:
                    return found, counts
                if give_up is not None and loop.time() > give_up:
                    return found, counts
                await asyncio.sleep(interval)

    found, counts = _run(database_url, follow)
    if found is None:
        console.print(f"[red]error:[/red] no broadcast #{broadcast_id}")
        raise typer.Exit(2)
    if found.finished_at is None:
        console.print(f"Still sending: {grouped(counts.handled)} of {grouped(counts.total)} done.")
        raise typer.Exit(1)
    console.print(report_text(counts, t, cancelled=found.status == BroadcastStatus.CANCELLED))


@broadcast_app.command("cancel")
def cancel(
    broadcast_id: Annotated[int, typer.Argument(help="The broadcast's number")],
    database_url: DatabaseOption = None,
) -> None:
    """Stop a broadcast: recipients not yet sent to get nothing."""
    if not _run(database_url, lambda sessions: _cancel(sessions, broadcast_id)):
        console.print(f"Broadcast #{broadcast_id} is not a draft or being sent; nothing to cancel.")
        raise typer.Exit(1)
    console.print(
        f"Broadcast #{broadcast_id} cancelled; the bot stops after the message in flight."
    )


@broadcast_app.command("list")
def list_broadcasts(
    clinic: Annotated[str | None, typer.Option(help="Only this clinic's")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 20,
    database_url: DatabaseOption = None,
) -> None:
    """The newest broadcasts, with their state and audience."""

    async def newest(sessions: SessionFactory) -> list[tuple[Broadcast, str]]:
        async with sessions() as session:
            query = select(Broadcast, Clinic.slug).join(
                Clinic, col(Clinic.id) == col(Broadcast.clinic_id)
            )
            if clinic is not None:
                query = query.where(col(Clinic.slug) == clinic)
            rows = await session.exec(query.order_by(col(Broadcast.id).desc()).limit(limit))
            return [(row[0], row[1]) for row in rows.all()]

    table = Table("#", "clinic", "status", "audience", "created (UTC)", "text")
    for found, slug in _run(database_url, newest):
        first_line = (found.text.splitlines() or [""])[0][:40]
        created = found.created_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(str(found.id), slug, found.status, _audience(found), created, first_line)
    console.print(table)


def _audience(found: Broadcast) -> str:
    if not found.segment:
        return "(not chosen)"
    try:
        return describe(segment_from_json(found.segment), t)
    except SegmentError:
        return str(found.segment.get("kind", "?"))  # e.g. a protocol change note
