"""The running bot: PTB polling for updates, and the dispatcher loop woken by APScheduler.

APScheduler is the alarm clock, not the store: it sets an event at the next due
time (converted to real seconds through the clock, so a fast demo clock works)
and every few seconds as a safety net. The outbox rows are the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import secrets
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.routing import BaseRoute
from telegram import Bot, Update
from telegram.error import NetworkError, TelegramError
from telegram.ext import Application

from bot.alerts import AlertConfig, Alerter
from bot.app import ALLOWED_UPDATES, COMMANDS, build_application
from bot.broadcasting import BroadcastConfig, Broadcaster
from bot.compose import compose
from bot.console.auth import Sessions, console_key_for
from bot.console.routes import ConsoleDeps, console_routes
from bot.http import bot_request
from bot.metrics import DaemonMetrics, dispatch_lag_seconds, read_counts
from bot.pacing import Pacer
from bot.passes import PassLoop
from bot.ratelimit import PacedRateLimiter
from bot.report_spool import ReportSpool
from bot.retention import Retention
from bot.sender import TelegramSender
from bot.services import Services
from bot.settings import Settings
from bot.web import Health, Webhook, WebServer, build_web_app
from messages.triage import load_rules
from schedules import deliveries, escalations, store
from schedules.catalog import ProtocolCatalog
from schedules.clinics import ClinicConfig, ensure_clinic
from schedules.clock import Clock, FastClock
from schedules.db import make_engine, session_factory
from schedules.dispatcher import DispatchConfig, Dispatcher, DispatchReport
from schedules.leader import AdvisoryLock, claims_of_others, leadership_for, startup_turn
from schedules.migrate import ensure_schema
from schedules.models import Clinic
from schedules.protocol import bundled_protocol

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


async def reach_bot_api(bot: Bot, *, patience: float) -> None:
    """Initialize ``bot`` (a getMe), retrying while the Bot API is not reachable yet.

    Operators start the bot and a local Bot API server together, and networks blip
    at boot: waiting with backoff beats crashing. A rejected token is not retried.
    """
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + patience
    delay = 0.25
    while True:
        try:
            await bot.initialize()
            return
        except NetworkError as error:  # InvalidToken is not a NetworkError
            if loop.time() + delay > give_up_at:
                raise
            log.warning(
                "Bot API not reachable (%s); retrying in %.2f s", type(error).__name__, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def webhook_secret_for(token: str) -> str:
    """The default webhook secret: derived from the token, so every process of one bot
    agrees on it (a random one per process would make the others answer 403)."""
    return hashlib.blake2b(b"aftercare-webhook", key=token.encode()[:64]).hexdigest()


def clinic_config(settings: Settings) -> ClinicConfig:
    return ClinicConfig(
        slug=settings.clinic_slug,
        name=settings.clinic_name,
        timezone=settings.clinic_timezone,
        phone=settings.clinic_phone,
        emergency_number=settings.clinic_emergency_number,
        staff_code=settings.staff_code,
        protocol_slug=settings.protocol,
    )


class Daemon:
    def __init__(
        self, settings: Settings, clock: Clock, *, token: str, base_url: str | None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._token = token
        self._base_url = base_url
        self.engine = make_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        self.catalog = ProtocolCatalog(self.sessions, clock)
        self._loops = (
            PassLoop("safety", self._safety_pass),  # spooled reports, staff alerts
            # Every wake runs all three; the care pass then sets the one alarm for all.
            PassLoop("care", self._care_pass, self._set_alarm),  # reminders
            PassLoop("bulk", self._bulk_pass),  # broadcasts
        )
        self._loops_started = False
        self.last_report = DispatchReport()
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self.application: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._send_bot: Bot | None = None
        self.dispatcher: Dispatcher | None = None
        self.alerter: Alerter | None = None
        self.clinic: Clinic | None = None
        self.alerts_sent = 0
        self.broadcast_sent = 0
        self.broadcaster: Broadcaster | None = None
        self._leadership = leadership_for(self.engine, token)
        self.leading = False
        self._poll = True
        self._lead_task: asyncio.Task[None] | None = None
        self._retention = Retention(self.sessions, clock, timedelta(days=settings.retention_days))
        self.report_spool = ReportSpool(settings.spool_dir)

    async def start(self, *, poll: bool = True) -> None:
        async with startup_turn(self.engine, self._token):  # processes starting together
            await ensure_schema(self.engine)  # empty: migrated; behind: refused with the command
            await self.catalog.publish(bundled_protocol(self.settings.protocol))
            async with self.sessions() as session:
                self.clinic = await ensure_clinic(
                    session, clinic_config(self.settings), self.clock.now()
                )
        rules = self._rules = load_rules()
        services = Services(
            sessions=self.sessions,
            clock=self.clock,
            catalog=self.catalog,
            protocol_slug=self.settings.protocol,
            wake_dispatcher=self.wake,
            triage_rules=rules,
            clinic_slug=self.settings.clinic_slug,
            console_url=self.console_url,
            report_spool=self.report_spool,
        )
        # One pacer per bot token: handler replies and the dispatcher's sends share it.
        self._pacer = Pacer(
            self.clock,
            per_second=self.settings.messages_per_second,
            on_pause=lambda _seconds: self.metrics.observe_429(),
        )
        self.application = build_application(
            token=self._token,
            base_url=self._base_url,
            services=services,
            rate_limiter=PacedRateLimiter(self._pacer),
        )
        self._send_bot = Bot(
            self._token,
            base_url=self._base_url or "https://api.telegram.org/bot",
            # PTB's default pool is one connection: the send window needs one per send.
            request=bot_request(self.settings.send_window + 2),
            get_updates_request=bot_request(),
        )
        await reach_bot_api(self._send_bot, patience=self.settings.startup_wait_seconds)
        self.dispatcher = self._build_dispatcher(self._send_bot)
        self.alerter = Alerter(
            self.sessions, self.clock, self._sender, rules, self.catalog,
            AlertConfig(lease=self._lease),
        )  # fmt: skip
        self.broadcaster = Broadcaster(
            self.sessions, self.clock, self._sender, self._worker,
            BroadcastConfig(
                lease=self._lease,
                max_attempts=self.settings.max_send_attempts,
                window=self.settings.send_window,
            ),
        )  # fmt: skip
        await self.application.initialize()
        await self.application.bot.set_my_commands(COMMANDS)
        await self.application.start()
        await self._start_web()
        if self.settings.webhook_url is not None:
            await self._set_webhook(self.settings.webhook_url)
        self._poll = poll and self.settings.webhook_url is None
        await self._check_lead()
        self._lead_task = asyncio.create_task(self._lead_loop(), name="leadership")
        self._scheduler.add_job(
            self.wake, "interval", seconds=self.settings.safety_wake_seconds, id="safety-wake"
        )
        self._scheduler.start()
        for loop in self._loops:
            loop.start()
        self._loops_started = True
        self.wake()
        log.info(
            "daemon started worker=%s role=%s",
            self._worker,
            self.role,
            extra={"worker": self._worker, "role": self.role},
        )

    # -- leadership: one dispatcher (and poller) per bot --------------------------------------

    @property
    def role(self) -> str:
        return "leader" if self.leading else "standby"

    async def _lead_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.leader_check_seconds)
            try:
                await self._check_lead()
            except Exception:  # the next check tries again; never let the loop die
                log.exception("leadership check failed")

    async def _check_lead(self) -> None:
        leading = await self._leadership.try_lead()
        if leading and not self.leading:
            await self._take_lead()
        elif not leading and self.leading:
            await self._step_down()
        if not leading and self._leadership.led_elsewhere:
            await self._stop_polling()
        if not leading and self._lead_task is None:
            log.info("standby: another process dispatches for this bot")

    async def _take_lead(self) -> None:
        """Adopt what the last leader left claimed, start polling, dispatch."""
        await self._let_the_last_leader_stop()
        # Under the pass lock: our own pass from an earlier lead has finished.
        async with contextlib.AsyncExitStack() as held:
            for loop in self._loops:
                await held.enter_async_context(loop.lock)
            session = await held.enter_async_context(self.sessions())
            adopted = await store.release_claims(session)
            adopted += await deliveries.release_claims(session)
            adopted += await escalations.release_alert_claims(session)
        for outbox in (self.dispatcher, self.broadcaster):
            if outbox is not None:
                outbox.resume_claiming()
        self.leading = True
        self.metrics.leader.set(1)
        updater = self.application.updater if self.application is not None else None
        if self._poll and updater is not None and not updater.running:
            await updater.start_polling(
                poll_interval=0.0, timeout=10, allowed_updates=ALLOWED_UPDATES
            )
        log.info("leading: this process dispatches (adopted %d orphaned claims)", adopted)
        self.wake()

    async def _let_the_last_leader_stop(self) -> None:
        """Before adopting another worker's claims, give it time to notice that it lost the
        lead and stop sending: a leader whose lock connection alone died is still alive,
        and would otherwise send the rows we are about to send. It checks every
        ``leader_check_seconds``; we wait two checks and a second. (SQLite: one process.)"""
        if not isinstance(self._leadership, AdvisoryLock):
            return
        async with self.sessions() as session:
            held = await claims_of_others(session, self._worker)
        if held:
            wait = 2 * self.settings.leader_check_seconds + 1
            log.info("taking the lead: waiting %.0f s before adopting %d claims", wait, held)
            await asyncio.sleep(wait)

    async def _step_down(self) -> None:
        """The lock is gone (its connection died): stop dispatching at once (a pass in
        progress ends after the sends in flight). Polling goes on until another process is
        seen leading: with the database down nobody can take the lead, and patients'
        messages must still be read and answered (the safe answers need no database)."""
        for outbox in (self.dispatcher, self.broadcaster):
            if outbox is not None:
                outbox.stop_claiming()
        self.leading = False
        self.metrics.leader.set(0)
        log.warning("standby: lost the dispatch lead; will try to take it again")

    async def _stop_polling(self) -> None:
        updater = self.application.updater if self.application is not None else None
        if updater is not None and updater.running:
            await updater.stop()
            log.info("another process leads: it reads the updates now")

    def _build_dispatcher(self, bot: Bot) -> Dispatcher:
        speed = self.clock.speed if isinstance(self.clock, FastClock) else 1.0
        self._worker = worker_name()
        self._sender = TelegramSender(bot, self._pacer)
        self._lease = timedelta(seconds=self.settings.claim_lease_seconds * speed)
        config = DispatchConfig(
            worker=self._worker,
            batch=self.settings.dispatch_batch,
            lease=self._lease,
            max_attempts=self.settings.max_send_attempts,
            window=self.settings.send_window,
            default_clinic=self.settings.clinic_slug,
        )
        return Dispatcher(self.sessions, self.clock, self._sender, compose, self.catalog, config)

    def wake(self) -> None:
        """Something may be due (a new plan, the alarm): run every pass soon."""
        for loop in self._loops:
            loop.wake()

    def pass_loop(self, name: str) -> PassLoop:
        """The pass loop called ``name``: "safety", "care" or "bulk"."""
        return next(loop for loop in self._loops if loop.name == name)

    async def dispatch_now(self) -> DispatchReport:
        """Run one pass of each loop right now, in order (tests move a fixed clock, then call
        this); the running daemon runs the three side by side."""
        self.last_report = DispatchReport()
        for loop in self._loops:
            await loop.run_once()
        return self.last_report

    async def _safety_pass(self) -> bool:
        assert self.alerter is not None
        # A standby records the reports its own handlers spooled; the leader alerts.
        await self.report_spool.drain(self.sessions, self.clock.now())
        if not self.leading:
            return False
        self.alerts_sent = await self.alerter.run_due()
        if self.alerts_sent:
            log.info("alerted staff about %d escalations", self.alerts_sent)
        return False

    async def _care_pass(self) -> bool:
        assert self.dispatcher is not None
        if not self.leading:
            return False
        report = self.last_report = await self.dispatcher.run_due()
        self.metrics.observe_pass(report)
        if report.handled:
            counts = {k: v for k, v in vars(report).items() if v}
            summary = " ".join(f"{k}={v}" for k, v in counts.items())
            log.info("dispatch pass %s", summary, extra=counts)
        await self._retention.run_if_due()  # forgets long-finished patients, once a day
        return False  # run_due sent everything due

    async def _bulk_pass(self) -> bool:
        assert self.broadcaster is not None
        if not self.leading:
            return False
        assert self.dispatcher is not None
        self.broadcast_sent = await self.broadcaster.run_due()
        now = self.clock.now()
        if self.broadcast_sent:  # a broadcast under way: reminders fallen due meanwhile go
            reminder = await self.dispatcher.next_due_at()
            if reminder is not None and reminder <= now:
                self.pass_loop("care").wake()
        due = await self.broadcaster.next_due()
        return due is not None and due <= now  # the next batch, at once

    async def _set_alarm(self) -> None:
        """Set the alarm at the next moment any loop has work due (now, if some is). A
        broadcast batch due now is left out: the bulk loop goes on by itself, and waking
        every loop for it would run empty passes all through a broadcast."""
        assert self.dispatcher is not None
        assert self.alerter is not None
        assert self.broadcaster is not None
        bulk = await self.broadcaster.next_due()
        moments = [
            await self.dispatcher.next_due_at(),
            await self.alerter.next_due(),
            bulk if bulk is not None and bulk > self.clock.now() else None,
        ]
        due = min((m for m in moments if m is not None), default=None)
        if due is None:
            return
        seconds = self.clock.real_seconds_until(due)
        if seconds == float("inf"):
            return
        run_at = datetime.now(UTC) + timedelta(seconds=seconds)
        self._scheduler.add_job(
            self.wake,
            "date",
            run_date=run_at,
            id="next-due",
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def stop(self) -> None:
        """A graceful stop: claim nothing more, finish the sends in flight, release what
        is still claimed and the lead (a standby takes over at once), close everything."""
        for outbox in (self.dispatcher, self.broadcaster):
            if outbox is not None:
                outbox.stop_claiming()
        await self._stop_web()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await _cancel(self._lead_task)
        if self._loops_started:
            for loop in self._loops:
                await loop.stop(patience=10)
            await self._release_claims()
        await self._leadership.release()
        if self.application is not None:
            if self.application.updater is not None and self.application.updater.running:
                await self.application.updater.stop()
            if self.application.running:
                await self.application.stop()
            await self.application.shutdown()
        if self._send_bot is not None:
            await self._send_bot.shutdown()
        await self.engine.dispose()

    async def _release_claims(self) -> None:
        if not hasattr(self, "_worker"):
            return
        try:
            async with self.sessions() as session:
                released = await store.release_claims(session, worker=self._worker)
                released += await deliveries.release_claims(session, worker=self._worker)
                if self.leading:
                    released += await escalations.release_alert_claims(session)
        except Exception as error:  # a lease runs out anyway; the stop must go on
            log.warning("could not release claims at stop (%s)", type(error).__name__)
            return
        log.info("stopped claiming; released %d claims", released)

    # -- HTTP: health, metrics, webhook ---------------------------------------------------------

    @functools.cached_property
    def metrics(self) -> DaemonMetrics:
        """This daemon's Prometheus registry (its own, so several daemons can share a process)."""
        return DaemonMetrics()

    @property
    def http_url(self) -> str | None:
        """``http://host:port`` of the running HTTP server, None when there is none."""
        server: WebServer | None = getattr(self, "_web", None)
        return server.url if server is not None else None

    def _http_port(self) -> int | None:
        if self.settings.http_port is None and self.settings.webhook_url is not None:
            return 8080  # webhook mode needs a server even when no port was chosen
        return self.settings.http_port

    async def _start_web(self) -> None:
        """Serve /healthz and /metrics (and the webhook path in webhook mode), if configured."""
        self._web: WebServer | None = None
        port = self._http_port()
        if port is None:
            return
        webhook = None
        if self.settings.webhook_url is not None:
            self._webhook_secret = self.settings.webhook_secret or webhook_secret_for(self._token)
            path = urlsplit(self.settings.webhook_url).path or "/"
            webhook = Webhook(path, self._webhook_secret, self._receive_update)
        app = build_web_app(
            health=self.health, metrics=self.scrape, webhook=webhook, pages=self._console()
        )
        server = WebServer(app, self.settings.http_host, port)
        await server.start()
        self._web = server
        log.info("http server listening on %s", server.url)

    def _console(self) -> list[BaseRoute]:
        public = self.settings.public_url
        cookies = Sessions(
            self.settings.console_secret or console_key_for(self._token),
            secure=public is not None and public.startswith("https://"),
        )
        deps = ConsoleDeps(
            self.sessions, self.clock, cookies, self._rules, self.catalog, self._tell_patient,
            self._photo_bytes, default_clinic_slug=self.settings.clinic_slug, wake=self.wake,
        )  # fmt: skip
        return console_routes(deps)

    async def _tell_patient(self, chat_id: int, text: str) -> None:
        assert self.application is not None
        await self.application.bot.send_message(chat_id, text)

    async def _photo_bytes(self, file_id: str) -> bytes | None:
        """A patient's photo for the console; None when Telegram cannot give it."""
        assert self.application is not None
        try:
            found = await self.application.bot.get_file(file_id)
            if not found.file_path:
                return None
            return bytes(await found.download_as_bytearray())
        except TelegramError as error:
            log.warning("photo not fetched for the console (%s)", type(error).__name__)
            return None

    def console_url(self) -> str | None:
        """Where staff open the console: the public address, else our own server's."""
        base = self.settings.public_url or self.http_url
        return base.rstrip("/") + "/console" if base else None

    async def _stop_web(self) -> None:
        server: WebServer | None = getattr(self, "_web", None)
        if server is not None:
            self._web = None
            await server.stop()

    async def _set_webhook(self, url: str) -> None:
        """Ask Telegram to POST updates to ``url`` (kept across restarts: none are lost)."""
        assert self.application is not None
        await self.application.bot.set_webhook(
            url, secret_token=self._webhook_secret, allowed_updates=ALLOWED_UPDATES
        )
        log.info("webhook mode: Telegram delivers updates to the configured URL")

    async def _receive_update(self, data: dict[str, Any]) -> None:
        """One update from the webhook: into PTB's queue, as polling would have put it."""
        assert self.application is not None
        try:
            update = Update.de_json(data, self.application.bot)
        except (TypeError, ValueError, KeyError) as error:
            # Refusing it would make Telegram deliver it again and again, holding up the rest.
            log.warning(
                "webhook: dropped an update the library cannot read (%s)", type(error).__name__
            )
            return
        await self.application.update_queue.put(update)

    async def health(self) -> Health:
        """Database reachable, scheduler running, and how late the oldest due reminder is."""
        running = self._scheduler.running and all(loop.running for loop in self._loops)
        try:
            lag: float | None = await dispatch_lag_seconds(self.sessions, self.clock.now())
            db = "ok"
        except Exception as error:  # whatever the driver raises, the answer is "unreachable"
            log.warning("health check: database unreachable (%s)", type(error).__name__)
            lag, db = None, "unreachable"
        return Health(
            role=self.role,
            db=db,
            scheduler="running" if running else "stopped",
            dispatch_lag_seconds=lag,
            max_lag_seconds=self.settings.health_max_lag_seconds,
        )

    async def scrape(self) -> bytes:
        """The Prometheus exposition: counters so far, gauges read from the database now."""
        counts = await read_counts(self.sessions, self.clock.now())
        return self.metrics.render(counts)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
