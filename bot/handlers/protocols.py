"""Protocol updates from the chat: an owner sends a YAML document, sees the diff, publishes.

A clinic's owner sends its protocol as a ``.yaml`` (or ``.yml``) document. The bot reads
it, validates it (every problem names the step and the field), and answers with what
would change against the clinic's current version and Publish / Cancel. Publish asks
for the note patients get (typed, or the default; a caption on the document is taken as
the note), then publishes, re-plans and reports counts. ``/versions`` lists the clinic's
versions; ``/rollback N`` shows what going back would change, then works the same way.

A validated upload waits in memory for its owner's answer (``PendingUploads``, 30
minutes): a restart drops an unconfirmed upload and the owner is asked to send the file
again. Buttons carry a short hash of the upload, so an old button never publishes a
newer file. Staff read English until clinics choose a language; the changes are listed
as the protocol file names things (step ids, field names).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from telegram import Update
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.handlers.common import Context, button_data, close_buttons, on_button, say, speak
from bot.services import Services, services
from messages.i18n import translator
from schedules import protocol_updates
from schedules.errors import AftercareError
from schedules.models import Clinic, Staff, StaffRole
from schedules.protocol import ProtocolSpec, parse_protocol
from schedules.protocol_updates import Outcome, Proposal, PublishError

log = logging.getLogger(__name__)
t = translator("en")  # staff read English until clinics choose a language
UPLOAD_TTL = timedelta(minutes=30)
MAX_FILE_BYTES = 256 * 1024
MAX_LISTED_CHANGES = 40
MAX_MESSAGE = 4000
_UPLOADS_KEY = "aftercare.protocol_uploads"


@dataclass
class Upload:
    """A validated protocol waiting for its owner to publish it (or a version to go back to)."""

    spec: ProtocolSpec
    clinic_id: int
    expires_at: datetime
    note: str | None = None  # the document's caption: the note patients get
    rollback_to: int | None = None
    awaiting_note: bool = False
    token: str = field(init=False)

    def __post_init__(self) -> None:
        self.token = hashlib.sha256(
            f"{self.spec.checksum()}:{self.rollback_to}".encode()
        ).hexdigest()[:10]


class PendingUploads:
    """One waiting upload per owner, in memory; it expires after ``UPLOAD_TTL``."""

    def __init__(self) -> None:
        self._by_user: dict[int, Upload] = {}

    def put(self, user_id: int, upload: Upload) -> None:
        self._by_user[user_id] = upload

    def get(self, user_id: int, now: datetime, token: str | None = None) -> Upload | None:
        upload = self._by_user.get(user_id)
        if upload is None or upload.expires_at <= now:
            self._by_user.pop(user_id, None)
            return None
        return upload if token is None or token == upload.token else None

    def drop(self, user_id: int) -> None:
        self._by_user.pop(user_id, None)


def pending(context: Context) -> PendingUploads:
    found = context.application.bot_data.setdefault(_UPLOADS_KEY, PendingUploads())
    assert isinstance(found, PendingUploads)
    return found


def _user_id(update: Update) -> int:
    user = update.effective_user
    assert user is not None
    return user.id


async def owned_clinic(svc: Services, user_id: int) -> Clinic | None:
    """The clinic this Telegram user is an active owner of, if any."""
    async with svc.sessions() as session:
        member = (
            await session.exec(
                select(Staff)
                .where(
                    col(Staff.user_id) == user_id,
                    col(Staff.active),
                    col(Staff.role) == StaffRole.OWNER,
                )
                .order_by(col(Staff.id))
            )
        ).first()
        return await session.get(Clinic, member.clinic_id) if member else None


async def _owner_or_refuse(update: Update, context: Context) -> Clinic | None:
    clinic = await owned_clinic(services(context), _user_id(update))
    if clinic is None:
        refuse = speak(update, None)
        await say(update, refuse("Only a clinic's owner can change its aftercare protocol."))
    return clinic


# -- the owner sends a file ------------------------------------------------------------------


async def document_received(update: Update, context: Context) -> None:
    """A protocol file from an owner: validate it and show what would change."""
    message = update.effective_message
    clinic = await _owner_or_refuse(update, context)
    if clinic is None or message is None or message.document is None:
        return
    document = message.document
    if (document.file_size or 0) > MAX_FILE_BYTES:
        await say(update, t("That file is too large for a protocol (at most 256 KB)."))
        return
    data = await (await document.get_file()).download_as_bytearray()
    name = document.file_name or "protocol.yaml"
    try:
        spec = parse_protocol(bytes(data).decode("utf-8"), name)
    except UnicodeDecodeError:
        await say(update, t("I can't read that file: it is not UTF-8 text."))
        return
    except AftercareError as error:
        header = t("This protocol has problems, so nothing was published:")
        await say(update, _fit(f"{header}\n{error}"))
        return
    caption = (message.caption or "").strip() or None
    await _offer(update, context, clinic, Upload(spec, clinic.id or 0, _expiry(context), caption))


async def versions_command(update: Update, context: Context) -> None:
    clinic = await _owner_or_refuse(update, context)
    if clinic is None:
        return
    async with services(context).sessions() as session:
        rows = await protocol_updates.clinic_versions(session, clinic)
    if not rows:
        await say(
            update,
            t(
                "Your clinic follows the shared {slug} protocol. Send me a protocol file (.yaml) to publish your own version.",
                slug=clinic.protocol_slug,
            ),
        )
        return
    lines = [t("Versions of {slug}:", slug=rows[-1].slug)]
    for row in rows:
        mark = " ✓" if row is rows[-1] else ""
        lines.append(
            f"v{row.version}{mark} · {row.created_at:%Y-%m-%d %H:%M} UTC · {row.change_note or ''}"
        )
    lines.append(t("/rollback N goes back to version N."))
    await say(update, _fit("\n".join(lines)))


async def rollback_command(update: Update, context: Context) -> None:
    clinic = await _owner_or_refuse(update, context)
    if clinic is None:
        return
    args = context.args or []
    if len(args) != 1 or not args[0].isdigit():
        await say(
            update,
            t(
                "Send /rollback followed by a version number, e.g. /rollback 2. /versions lists them."
            ),
        )
        return
    number = int(args[0])
    try:
        async with services(context).sessions() as session:
            spec = await protocol_updates.version_spec(session, clinic, number)
    except PublishError:
        await say(update, t("There is no version {n}. /versions lists them.", n=number))
        return
    upload = Upload(spec, clinic.id or 0, _expiry(context), rollback_to=number)
    await _offer(update, context, clinic, upload)


async def _offer(update: Update, context: Context, clinic: Clinic, upload: Upload) -> None:
    """Show what publishing ``upload`` would change, with Publish / Cancel."""
    try:
        async with services(context).sessions() as session:
            proposal = await protocol_updates.propose(session, clinic, upload.spec)
    except PublishError as error:
        await say(update, _fit(t("I can't publish this: {reason}", reason=str(error))))
        return
    if proposal.identical:
        await say(update, t("Nothing to publish: this is what your clinic's current version says."))
        return
    pending(context).put(_user_id(update), upload)
    publish = t("Publish version {n}", n=proposal.next_version)
    rows = [[(publish, f"proto:pub:{upload.token}"), (t("Cancel"), f"proto:no:{upload.token}")]]
    await say(update, _changes_text(proposal, upload), rows)


def _changes_text(proposal: Proposal, upload: Upload) -> str:
    current = proposal.current
    if upload.rollback_to is not None:
        head = t("Going back to version {n} changes this:", n=upload.rollback_to)
    elif current is not None:
        head = t("Changes from {slug} version {n}:", slug=current.slug, n=current.version)
    else:
        head = t("The protocol's steps:")
    shown = proposal.changes[:MAX_LISTED_CHANGES]
    lines = [head, *shown]
    if len(proposal.changes) > len(shown):
        lines.append(t("… and {n} more changes.", n=len(proposal.changes) - len(shown)))
    lines += ["", t("Publishing moves your patients' pending reminders to the new version.")]
    if upload.note:
        lines.append(t("Note to the patients affected: {note}", note=upload.note))
    return _fit("\n".join(lines))


# -- the owner confirms -----------------------------------------------------------------------


async def publish_pressed(update: Update, context: Context) -> None:
    upload = await _pressed_upload(update, context)
    if upload is None:
        return
    await close_buttons(update, t("Publish"))
    if upload.note:
        await _publish(update, context, upload, upload.note)
        return
    upload.awaiting_note = True
    default = t("Your clinic updated your aftercare plan.")
    await say(
        update,
        t(
            "What should the patients whose plan changes be told? Write it in one message, or use the default: “{default}”",
            default=default,
        ),
        [
            [(t("Use the default note"), f"proto:def:{upload.token}")],
            [(t("Cancel"), f"proto:no:{upload.token}")],
        ],
    )


async def default_note_pressed(update: Update, context: Context) -> None:
    upload = await _pressed_upload(update, context)
    if upload is not None:
        await close_buttons(update, t("Use the default note"))
        await _publish(update, context, upload, None)


async def cancel_pressed(update: Update, context: Context) -> None:
    pending(context).drop(_user_id(update))
    await close_buttons(update, t("Cancel"))
    await say(update, t("Cancelled: nothing was published."))


async def note_typed(update: Update, context: Context) -> None:
    """The note an owner types after Publish; any other text goes on to the other handlers."""
    message = update.effective_message
    if message is None or message.text is None or message.reply_to_message is not None:
        return
    upload = pending(context).get(_user_id(update), services(context).clock.now())
    if upload is None or not upload.awaiting_note:
        return
    await _publish(update, context, upload, message.text.strip())
    raise ApplicationHandlerStop


async def _pressed_upload(update: Update, context: Context) -> Upload | None:
    """The waiting upload a Publish or note button belongs to (the owner's, not expired)."""
    token = button_data(update).rpartition(":")[2]
    upload = pending(context).get(_user_id(update), services(context).clock.now(), token)
    if upload is None:
        await close_buttons(update)
        await say(
            update,
            t(
                "That upload is no longer waiting (uploads wait 30 minutes, and a restart forgets them). Please send the file again."
            ),
        )
    return upload


async def _publish(update: Update, context: Context, upload: Upload, note: str | None) -> None:
    """Publish (or roll back); ``note`` None: the default note for patients."""
    svc = services(context)
    pending(context).drop(_user_id(update))
    clinic = await owned_clinic(svc, _user_id(update))
    if clinic is None or clinic.id != upload.clinic_id:
        await say(update, t("Only a clinic's owner can change its aftercare protocol."))
        return
    try:
        outcome = await _publish_upload(svc, clinic, upload, note, _user_id(update))
    except PublishError as error:
        await say(update, _fit(t("I can't publish this: {reason}", reason=str(error))))
        return
    svc.wake_dispatcher()
    await say(update, _report(outcome))


async def _publish_upload(
    svc: Services, clinic: Clinic, upload: Upload, note: str | None, user_id: int
) -> Outcome:
    created_by = f"staff:{await _staff_id(svc, clinic, user_id)}"
    unassigned = clinic.slug == svc.clinic_slug
    default = t("Your clinic updated your aftercare plan.")
    if upload.rollback_to is not None:
        outcome = await protocol_updates.rollback(
            svc.sessions, clinic, upload.rollback_to, created_by=created_by,
            now=svc.clock.now(), note=note, default_note=default,
            include_unassigned=unassigned,
        )  # fmt: skip
    else:
        outcome = await protocol_updates.publish_for_clinic(
            svc.sessions, clinic, upload.spec, change_note=note or default,
            created_by=created_by, now=svc.clock.now(), include_unassigned=unassigned,
        )  # fmt: skip
    version = outcome.protocol.version if outcome.protocol else 0
    log.info(
        "protocol published: clinic %s v%d, %d treatments moved, %d notes queued",
        clinic.id, version, outcome.moved, outcome.notified,
    )  # fmt: skip
    return outcome


async def _staff_id(svc: Services, clinic: Clinic, user_id: int) -> int | None:
    """Who published, recorded as the staff row's id (never a Telegram id or a name)."""
    async with svc.sessions() as session:
        return (
            await session.exec(
                select(Staff.id).where(
                    col(Staff.clinic_id) == clinic.id, col(Staff.user_id) == user_id
                )
            )
        ).first()


def _report(outcome: Outcome) -> str:
    if outcome.protocol is None or not outcome.published:
        return t("Nothing to publish: this is what your clinic's current version says.")
    return t(
        "Published version {version}. {moved} active treatments now follow it and {replanned} plans were updated ({added} reminders added, {rescheduled} moved, {cancelled} cancelled). {notified} patients will get your note.",
        version=outcome.protocol.version,
        moved=outcome.moved,
        replanned=outcome.replanned,
        added=outcome.added,
        rescheduled=outcome.rescheduled,
        cancelled=outcome.cancelled,
        notified=outcome.notified,
    )


def _expiry(context: Context) -> datetime:
    return services(context).clock.now() + UPLOAD_TTL


def _fit(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


_YAML = filters.Document.FileExtension("yaml") | filters.Document.FileExtension("yml")

HANDLERS: dict[int, list[BaseHandler[Any, Any, Any]]] = {
    # Before every other text handler: the note an owner types after Publish.
    -1: [MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, note_typed)],
    0: [
        MessageHandler(_YAML & filters.ChatType.PRIVATE, document_received),
        CommandHandler("versions", versions_command),
        CommandHandler("rollback", rollback_command),
        on_button(r"^proto:pub:\w+$", publish_pressed),
        on_button(r"^proto:def:\w+$", default_note_pressed),
        on_button(r"^proto:no:\w+$", cancel_pressed),
    ],
}
