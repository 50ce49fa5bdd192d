"""Delivering broadcasts: claimed per recipient, paced with the reminders, resumable.

The daemon calls ``run_due`` on every pass, after reminders and staff alerts, so a
broadcast never holds up care messages for longer than one small batch. A pass claims a
batch of pending deliveries (a lease, as the reminder outbox does), reads each
recipient afresh (a patient who stopped or became unreachable meanwhile is skipped; a
cancelled broadcast sends nothing more), sends through the shared pacer with up to
``window`` messages on the wire (one patient's in order) and records each outcome in its
own transaction. Killed mid-batch, a process re-sends at most the ``window`` messages
whose answers it had not recorded; its other claims come back when their lease lapses.

The staff member's progress message is edited in place at most every ``progress_every``
seconds of clock time, and once more with the final report.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from messages.i18n import Translator, translator
from schedules import broadcasts, deliveries
from schedules.broadcasts import Progress
from schedules.clock import Clock
from schedules.db import SessionFactory
from schedules.deliveries import Recipient
from schedules.models import Broadcast, BroadcastStatus, PatientStatus
from schedules.outbound import (
    Button,
    Edit,
    Editor,
    RateLimited,
    Rejected,
    Sender,
    SendOutcome,
    Sent,
    Transient,
    Unreachable,
)
from schedules.retry import backoff
from schedules.segments import Everyone, InCourse, OnProtocol, Recent, Segment

log = logging.getLogger(__name__)
t = translator("en")  # staff read English until clinics choose a language (as in staff.py)


@dataclass(frozen=True)
class BroadcastConfig:
    # Small batches: reminders due meanwhile wait at most one batch (4 s at 25 messages/s).
    batch: int = 100
    # Clock time, like the pacer's budget; long enough for a batch and a 429 pause.
    lease: timedelta = timedelta(minutes=2)
    max_attempts: int = 6
    # Deliveries on the wire or not yet recorded at once (``Settings.send_window``).
    window: int = 8
    progress_every: float = 2.0  # clock seconds between two edits of the progress message


@dataclass
class _Run:
    """One batch on its way: the chats still to take, and what the lanes found."""

    queue: deque[list[Recipient]]
    content: dict[int, Broadcast | None] = field(default_factory=dict)
    sent: int = 0
    paused: bool = False  # a 429: the lanes stop, the rest goes back to pending
    unsent: list[Recipient] = field(default_factory=list)

    def left_over(self) -> list[Recipient]:
        return self.unsent + [r for recipients in self.queue for r in recipients]


def by_chat(batch: list[Recipient]) -> deque[list[Recipient]]:
    """The batch as one list per patient, in batch order: a patient's messages (two
    broadcasts) leave one after the other; different patients' side by side."""
    grouped: dict[int, list[Recipient]] = {}
    for recipient in batch:
        grouped.setdefault(recipient.patient_id, []).append(recipient)
    return deque(grouped.values())


class Broadcaster:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        sender: Sender,
        worker: str,
        config: BroadcastConfig | None = None,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sender = sender
        # The progress message needs an editing sender (Telegram's has one).
        self._editor = sender if isinstance(sender, Editor) else None
        self._worker = worker
        self._config = config or BroadcastConfig()
        self._jitter = jitter
        self._last_shown: dict[int, float] = {}  # broadcast id -> clock.monotonic() of its edit
        self._stopping = False

    def stop_claiming(self) -> None:
        """A graceful stop or a lost lead: finish the send in flight; the rest is released
        by the daemon, or by the next leader."""
        self._stopping = True

    def resume_claiming(self) -> None:
        self._stopping = False

    async def run_due(self) -> int:
        """Send one batch of pending deliveries; returns how many were sent."""
        if self._stopping:
            return 0
        async with self._sessions() as session:
            batch = await deliveries.claim_deliveries(
                session,
                now=self._clock.now(),
                worker=self._worker,
                lease=self._config.lease,
                limit=self._config.batch,
            )
        run = _Run(by_chat(batch))
        await asyncio.gather(*(self._deliver_chats(run) for _ in range(self._config.window)))
        if run.paused:
            await self._release(run.left_over())
        await self._finish_ready()
        return run.sent

    async def _deliver_chats(self, run: _Run) -> None:
        """One of ``window`` lanes: take the next chat's deliveries and send them in order."""
        while run.queue and not (self._stopping or run.paused):
            recipients = run.queue.popleft()
            for index, recipient in enumerate(recipients):
                outcome = await self._deliver(recipient, run.content)
                run.sent += outcome == "sent"
                if outcome == "rate limited":
                    run.paused = True
                    run.unsent.extend(recipients[index + 1 :])
                    return
                await self._show_progress(recipient.broadcast_id, run.content)

    async def next_due(self) -> datetime | None:
        async with self._sessions() as session:
            return await deliveries.next_due(session, self._clock.now())

    async def _deliver(self, recipient: Recipient, content: dict[int, Broadcast | None]) -> str:
        """Read the recipient afresh, send, record: one session, the send outside any
        transaction, the outcome in a transaction of its own."""
        worker, bid = self._worker, recipient.broadcast_id
        async with self._sessions() as session:
            target = await deliveries.target(session, recipient)
            if bid not in content:
                content[bid] = await session.get(Broadcast, bid)
            broadcast = content[bid]
            if broadcast is None or target.broadcast_status != BroadcastStatus.SENDING:
                await deliveries.mark_cancelled(session, recipient.delivery_id, worker)
                return "cancelled"
            if target.chat_id is None or target.patient_status != PatientStatus.ACTIVE:
                reason = f"patient {target.patient_status or 'deleted'}"
                await deliveries.mark_skipped(session, recipient.delivery_id, worker, reason)
                return "skipped"
            await session.commit()  # end the read before waiting on Telegram
            message = broadcasts.outbound_for(broadcast, target.chat_id)
            outcome = await self._sender.send(message)
            return await self._record(session, recipient, outcome)

    async def _record(
        self, session: AsyncSession, recipient: Recipient, outcome: SendOutcome
    ) -> str:
        worker, delivery_id, now = self._worker, recipient.delivery_id, self._clock.now()
        match outcome:
            case Sent(message_id=message_id):
                await deliveries.mark_sent(
                    session, delivery_id, worker, message_id=message_id, now=now
                )
                return "sent"
            case Unreachable(reason=reason):
                await deliveries.mark_blocked(
                    session, delivery_id, worker, patient_id=recipient.patient_id, reason=reason
                )
                log.warning(
                    "broadcast recipient unreachable broadcast_id=%s patient_id=%s",
                    recipient.broadcast_id,
                    recipient.patient_id,
                )
                return "blocked"
            case Rejected(reason=reason):
                await deliveries.mark_failed(session, delivery_id, worker, reason)
                log.error("broadcast message rejected delivery_id=%s", delivery_id)
                return "failed"
            case RateLimited(retry_after=seconds):
                await deliveries.release(
                    session,
                    delivery_id,
                    worker,
                    not_before=now + timedelta(seconds=seconds),
                    reason="429",
                    count_attempt=False,
                )
                return "rate limited"
            case Transient(reason=reason):
                delay = backoff(
                    recipient.attempts + 1,
                    max_attempts=self._config.max_attempts,
                    jitter=self._jitter(),
                )
                if delay is None:
                    await deliveries.mark_failed(session, delivery_id, worker, reason)
                    return "failed"
                await deliveries.release(
                    session, delivery_id, worker, not_before=now + delay, reason=reason
                )
                return "retried"
        raise AssertionError(f"unknown outcome {outcome!r}")

    async def _release(self, rest: list[Recipient]) -> None:
        """A 429 stopped the batch: the rest go back to pending at once (the pacer holds every
        send until the pause is over), instead of waiting for their lease to lapse."""
        async with self._sessions() as session:
            for recipient in rest:
                await deliveries.release(
                    session,
                    recipient.delivery_id,
                    self._worker,
                    not_before=self._clock.now(),
                    reason="429 pause",
                    count_attempt=False,
                )

    async def _show_progress(self, broadcast_id: int, content: dict[int, Broadcast | None]) -> None:
        """Edit the live progress message if the last edit is ``progress_every`` old."""
        broadcast = content.get(broadcast_id)
        if broadcast is None or broadcast.progress_message_id is None or self._editor is None:
            return
        now = self._clock.monotonic()
        last = self._last_shown.get(broadcast_id)
        if last is not None and now - last < self._config.progress_every:
            return
        self._last_shown[broadcast_id] = now
        async with self._sessions() as session:
            counts = await broadcasts.progress(session, broadcast_id)
        await self._edit(broadcast, progress_text(broadcast_id, counts, t), live=True)

    async def _finish_ready(self) -> None:
        """Close every broadcast with nothing left to send, with its final report."""
        async with self._sessions() as session:
            ready = await deliveries.ready_to_finish(session)
        for broadcast in ready:
            assert broadcast.id is not None
            async with self._sessions() as session:
                counts = await broadcasts.progress(session, broadcast.id)
            cancelled = broadcast.status == BroadcastStatus.CANCELLED
            # Report first, then record: a crash between re-sends the same (harmless) edit.
            await self._edit(broadcast, report_text(counts, t, cancelled=cancelled), live=False)
            async with self._sessions() as session:
                if await deliveries.mark_finished(session, broadcast, self._clock.now()):
                    log.info(
                        "broadcast finished broadcast_id=%s sent=%d blocked=%d skipped=%d "
                        "failed=%d cancelled=%d",
                        broadcast.id,
                        counts.sent,
                        counts.blocked,
                        counts.skipped,
                        counts.failed,
                        counts.cancelled,
                    )
            self._last_shown.pop(broadcast.id, None)

    async def _edit(self, broadcast: Broadcast, text: str, *, live: bool) -> None:
        chat_id, message_id = broadcast.progress_chat_id, broadcast.progress_message_id
        if self._editor is None or chat_id is None or message_id is None:
            return
        buttons = (cancel_button(broadcast.id or 0),) if live else ()
        # The report is tried again (a 429 pauses the pacer, so the next try waits it out);
        # a live count is not worth holding up the batch for: the next one follows soon.
        for _ in range(1 if live else 3):
            outcome = await self._editor.edit(Edit(chat_id, message_id, text, buttons))
            if not isinstance(outcome, RateLimited | Transient):
                break
        if not isinstance(outcome, Sent):
            log.warning(
                "broadcast progress not shown broadcast_id=%s (%s)",
                broadcast.id,
                type(outcome).__name__,
            )


def describe(segment: Segment, t: Translator) -> str:
    """The segment in words, for the staff member choosing it."""
    match segment:
        case Everyone():
            return t("all active patients")
        case Recent(days=days):
            return t("active patients treated in the last {days} days").format(days=days)
        case OnProtocol(slug=slug):
            return t("active patients on the {protocol} protocol").format(protocol=slug)
        case InCourse(course=course, session=None):
            return t("active patients on the {course} course").format(course=course)
        case InCourse(course=course, session=session):
            return t("active patients at treatment {n} of the {course} course").format(
                n=session, course=course
            )
    raise AssertionError(segment)


def cancel_button(broadcast_id: int) -> tuple[Button, ...]:
    return (Button(t("Cancel broadcast"), f"bc:stop:{broadcast_id}"),)


def grouped(number: int) -> str:
    """1234567 -> "1 234 567": thousands apart, readable in every language."""
    return f"{number:,}".replace(",", " ")


def progress_text(broadcast_id: int, counts: Progress, t: Translator) -> str:
    """ "📣 Broadcast #12: 1 234 / 5 000 sent, 3 blocked" (skipped and failed when any)."""
    text = t("📣 Broadcast #{id}: {sent} / {total} sent, {blocked} blocked").format(
        id=broadcast_id,
        sent=grouped(counts.sent),
        total=grouped(counts.total),
        blocked=grouped(counts.blocked),
    )
    return text + _extras(counts, t)


def report_text(counts: Progress, t: Translator, *, cancelled: bool = False) -> str:
    """The final word: "Broadcast finished: 4 990 sent, 7 blocked, 3 skipped"."""
    values = {
        "sent": grouped(counts.sent),
        "blocked": grouped(counts.blocked),
        "skipped": grouped(counts.skipped),
    }
    if cancelled:
        text = t("Broadcast cancelled: {sent} sent, {blocked} blocked, {skipped} skipped").format(
            **values
        )
        text += t(", {n} not sent").format(n=grouped(counts.cancelled))
    else:
        text = t("Broadcast finished: {sent} sent, {blocked} blocked, {skipped} skipped").format(
            **values
        )
    if counts.failed:
        text += t(", {n} failed").format(n=grouped(counts.failed))
    return text


def _extras(counts: Progress, t: Translator) -> str:
    text = ""
    if counts.skipped:
        text += t(", {n} skipped").format(n=grouped(counts.skipped))
    if counts.failed:
        text += t(", {n} failed").format(n=grouped(counts.failed))
    return text
