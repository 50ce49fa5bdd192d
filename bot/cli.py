"""The composition root: flags and settings in, services built, one command run."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from bot.cli_bench import bench_command
from bot.cli_broadcast import broadcast_app
from bot.cli_clinic import clinic_app
from bot.cli_db import db_app
from bot.cli_protocol import protocol_app
from bot.handlers.planning import headline
from bot.logs import setup_logging
from bot.settings import Settings, SettingsError, load_settings
from bot.triage_cli import triage_command
from messages.render import render_step
from schedules.clock import Clock, FastClock, SystemClock
from schedules.errors import AftercareError
from schedules.planner import Preferences, local_time, plan
from schedules.protocol import bundled_protocol, load_protocol
from schedules.zones import is_valid_timezone

if TYPE_CHECKING:
    from bot.daemon import Daemon

app = typer.Typer(help="Patient aftercare on Telegram.", no_args_is_help=True, add_completion=False)
SANDBOX_TOKEN = "123456:SANDBOX-TOKEN-not-a-real-one"
console = Console()


@app.command()
def run(
    token: Annotated[str | None, typer.Option(help="Bot token; none = local sandbox")] = None,
    api_base_url: Annotated[
        str | None, typer.Option(help="Bot API base URL (PTB base_url)")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy async URL")] = None,
    clock_speed: Annotated[float | None, typer.Option(help="Run time N× faster (demos)")] = None,
    sandbox_port: Annotated[int | None, typer.Option(help="Port of the embedded sandbox")] = None,
    clock_start: Annotated[str | None, typer.Option(help="Fast clock's start (ISO 8601)")] = None,
    clock_epoch: Annotated[float | None, typer.Option(help="Unix time of clock_start")] = None,
    webhook: Annotated[
        str | None, typer.Option(help="Public HTTPS URL: webhook mode instead of polling")
    ] = None,
    http_host: Annotated[str | None, typer.Option(help="Address of /healthz, /metrics")] = None,
    http_port: Annotated[
        int | None, typer.Option(help="Port of /healthz, /metrics, webhook (unset: none)")
    ] = None,
) -> None:
    """Run the bot: against Telegram with a token, else against an embedded sandbox."""
    settings = load_settings(
        token=token,
        api_base_url=api_base_url,
        database_url=database_url,
        clock_speed=clock_speed,
        sandbox_port=sandbox_port,
        clock_start=clock_start,
        clock_epoch=clock_epoch,
        webhook_url=webhook,
        http_host=http_host,
        http_port=http_port,
    )
    setup_logging(settings.log_level, settings.log_format)
    asyncio.run(_run(settings))


def make_clock(settings: Settings) -> Clock:
    if settings.clock_speed == 1 and settings.clock_start is None:
        return SystemClock()
    start = settings.clock_start or datetime.now(UTC)
    if start.tzinfo is None:
        raise typer.BadParameter("--clock-start needs a UTC offset, e.g. 2026-03-28T09:00+00:00")
    return FastClock(start, settings.clock_speed, real_epoch=settings.clock_epoch)


SANDBOX_HTTP_PORT = 8090  # /healthz, /metrics and the console when trying it without a token


async def _run(settings: Settings) -> None:
    from bot.daemon import Daemon

    clock = make_clock(settings)
    sandbox = None
    token, base_url = settings.token, settings.api_base_url
    if token is None:
        from bot.sandbox.server import Sandbox

        sandbox = Sandbox(monotonic=clock.monotonic, now=clock.now)
        await sandbox.start(port=settings.sandbox_port)
        token, base_url = SANDBOX_TOKEN, sandbox.base_url
        if settings.http_port is None:  # the console is half of what there is to try
            settings = settings.model_copy(update={"http_port": SANDBOX_HTTP_PORT})
        console.print(f"No token given: using the local sandbox at {sandbox.url}")
        console.print(f"Play a patient in your browser: {sandbox.url}/chat", markup=False)
        console.print(
            "Or with curl: curl -X POST -H 'content-type: application/json' "
            f"""-d '{{"text": "/start"}}' {sandbox.url}/control/users/42/text ; """
            f"then read {sandbox.url}/control/chats/42/transcript",
            markup=False,
            soft_wrap=True,
        )
    daemon = Daemon(settings, clock, token=token, base_url=base_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await start_or_explain(daemon, settings)
        if sandbox is not None and settings.webhook_url is not None:
            sandbox.route_webhooks(daemon.http_url)  # stands in for the HTTPS proxy
        if daemon.http_url is not None:
            console.print(f"Health and metrics: {daemon.http_url}/healthz, /metrics")
        if settings.staff_code is None and daemon.clinic is not None:
            console.print(
                f"Clinic staff join by sending the bot: /staff {daemon.clinic.staff_code}",
                markup=False,
            )
        if sandbox is not None and daemon.console_url() is not None:
            console.print(
                f"Clinic console at {daemon.console_url()}: on the chat page, join as staff"
                " (the /staff code), then send /console for a sign-in link.",
                markup=False,
            )
        console.print("aftercare is running; Ctrl+C stops it.")
        await stop.wait()
    finally:
        await daemon.stop()
        if sandbox is not None:
            await sandbox.stop()


async def start_or_explain(daemon: Daemon, settings: Settings) -> None:
    """Start the daemon; a rejected token or an unreachable API ends with a plain message.

    PTB's own InvalidToken message quotes the token, so it is never printed.
    """
    from telegram.error import InvalidToken, NetworkError

    try:
        await daemon.start()
    except InvalidToken:
        console.print("[red]The Bot API rejected the token.[/] Check --token / AFTERCARE_TOKEN.")
        raise typer.Exit(2) from None
    except NetworkError as error:
        console.print(
            f"[red]Could not reach the Bot API[/] within {settings.startup_wait_seconds:.0f} s "
            f"({type(error).__name__}). Check --api-base-url and the network."
        )
        raise typer.Exit(2) from None
    except AftercareError as error:  # e.g. a database that needs `aftercare db upgrade`
        console.print(f"error: {error}", markup=False, highlight=False)
        raise typer.Exit(2) from None


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8081,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    no_limits: Annotated[bool, typer.Option(help="Switch Telegram's rate limits off")] = False,
) -> None:
    """Serve the local Bot API stand-in, e.g. for `aftercare run --api-base-url`."""
    from bot.sandbox.limits import Limits
    from bot.sandbox.server import serve_forever

    setup_logging("INFO")
    asyncio.run(serve_forever(host, port, Limits(enabled=not no_limits)))


@app.command()
def demo(
    seconds: Annotated[float, typer.Option(help="Give up after this many real seconds")] = 90.0,
    clock_speed: Annotated[float, typer.Option(help="How much faster than real time")] = 60.0,
    timezone: Annotated[str, typer.Option(help="The demo patient's city or timezone")] = "Berlin",
    database_url: Annotated[str | None, typer.Option(help="Keep the demo's database here")] = None,
) -> None:
    """Play a patient's weeks of aftercare in under a minute, on the sandbox."""
    from bot.demo import run_demo

    setup_logging("WARNING")
    code = asyncio.run(
        run_demo(
            seconds=seconds,
            speed=clock_speed,
            place=timezone,
            database_url=database_url,
            console=console,
        )
    )
    raise typer.Exit(code)


@app.command("plan")
def plan_command(
    treated: Annotated[str, typer.Option(help="Local treatment time, e.g. 2026-03-28T10:00")],
    tz: Annotated[str, typer.Option(help="IANA timezone, e.g. Europe/London")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    locale: Annotated[str, typer.Option(help="Language of the texts")] = "en",
    quiet: Annotated[str, typer.Option(help="Quiet hours HH:MM-HH:MM")] = "21:00-08:00",
    skin_type: Annotated[
        str | None, typer.Option("--skin-type", "--skin", help="dry, normal, oily, sensitive")
    ] = None,
    pigmentation: Annotated[
        bool, typer.Option(help="Darker skin or melasma history: plan the pigmentation watch")
    ] = False,
    protocol_file: Annotated[str | None, typer.Option("--protocol", help="A protocol YAML")] = None,
    course: Annotated[
        str | None, typer.Option(help="Treatment course, e.g. collagen (default: the protocol's)")
    ] = None,
    session: Annotated[int, typer.Option(min=1, help="Which session of the course this is")] = 1,
) -> None:
    """Print the plan for one treatment, without touching a database."""
    try:
        rows = _plan_rows(
            treated,
            tz,
            locale,
            quiet,
            skin_type,
            protocol_file,
            pigmentation=pigmentation,
            course=course,
            session=session,
        )
    except (AftercareError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("local time", "step", "text")
    for row in rows:
        table.add_row(row["due_local"][:16], row["step"], headline(row["text"], limit=60))
    console.print(table)


def _plan_rows(
    treated: str,
    tz: str,
    locale: str,
    quiet: str,
    skin_type: str | None,
    protocol_file: str | None,
    *,
    pigmentation: bool = False,
    course: str | None = None,
    session: int = 1,
) -> list[dict[str, str]]:
    if not is_valid_timezone(tz):
        raise ValueError(f'unknown timezone "{tz}"; use an IANA name such as Europe/London')
    start, _, end = quiet.partition("-")
    local = datetime.fromisoformat(treated)
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(tz))
    spec = load_protocol(protocol_file) if protocol_file else bundled_protocol()
    if course is not None and course not in (spec.courses or {}):
        known = ", ".join(spec.courses or {}) or "none"
        raise ValueError(f'unknown course "{course}"; this protocol\'s courses: {known}')
    prefs = Preferences(
        timezone=tz,
        quiet_start=time.fromisoformat(start),
        quiet_end=time.fromisoformat(end),
        skin_type=skin_type,
        pigmentation_watch=pigmentation,
        course=course,
        session=session,
    )
    return [
        {
            "step": item.step_id,
            "occurrence": str(item.occurrence),
            "due_local": local_time(item.due_at, tz).isoformat(),
            "due_utc": item.due_at.isoformat(),
            "text": render_step(spec, item.step_id, locale, course=course, session=session).text,
        }
        for item in plan(spec, local.astimezone(UTC), prefs)
    ]


app.add_typer(protocol_app, name="protocol")
app.add_typer(clinic_app, name="clinic")
app.add_typer(broadcast_app, name="broadcast")
app.add_typer(db_app, name="db")


app.command("triage")(triage_command)
app.command("bench")(bench_command)


def main() -> None:
    try:
        app()
    except SettingsError as error:  # from any command: a plain message, not a traceback
        console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
