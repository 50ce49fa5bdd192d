"""The tables. Every stored instant is UTC; ``UTCDateTime`` keeps it aware.

The ``Reminder`` table is the outbox: one row per planned message, unique per
(treatment, step, occurrence) so that planning twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, hands back aware UTC, refuses naive input."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


class PatientStatus(StrEnum):
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    UNREACHABLE = "unreachable"


class ReminderStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"
    # Closed (stale, cancelled...) after a send of it was on its way when a process died:
    # the patient may have it. Never recorded as skipped, which would say they did not.
    MAYBE_SENT = "maybe_sent"


class EscalationState(StrEnum):
    NONE = "none"  # recorded for the clinic's records, nobody needs to act
    OPEN = "open"  # someone at the clinic must look; urgent ones re-alert until acknowledged
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class StaffRole(StrEnum):
    OWNER = "owner"
    STAFF = "staff"


class Clinic(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=sa.Column(sa.String(64), unique=True, nullable=False))
    name: str
    timezone: str = "UTC"
    phone: str | None = None  # the contact line patients are given
    emergency_number: str | None = None  # e.g. "112"; None: "your local emergency number"
    staff_code: str | None = None  # secret a new staff member sends with /staff
    # Patients join through t.me/<bot>?start=<patient_code>; unguessable, per clinic.
    patient_code: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(64), unique=True, nullable=True)
    )
    protocol_slug: str = "microneedling"  # the protocol its new treatments are planned on
    active: bool = True
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class Invite(SQLModel, table=True):
    """A single-use, expiring code that makes whoever opens it staff (or owner) of a clinic."""

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    code: str = Field(sa_column=sa.Column(sa.String(64), unique=True, nullable=False))
    role: StaffRole = Field(
        default=StaffRole.STAFF, sa_column=sa.Column(sa.String(16), nullable=False)
    )
    created_by: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_utc_column())
    used_by: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    BLOCKED = "blocked"  # the patient blocked the bot (403)
    FAILED = "failed"
    SKIPPED = "skipped"  # stopped or unreachable by the time their turn came
    CANCELLED = "cancelled"


class Broadcast(SQLModel, table=True):
    """One message from a clinic to a segment of its patients."""

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    created_by: int | None = Field(default=None, foreign_key="staff.id")
    text: str = Field(max_length=4096)
    photo_file_id: str | None = None
    segment: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False, default=dict)
    )
    status: BroadcastStatus = Field(
        default=BroadcastStatus.DRAFT, sa_column=sa.Column(sa.String(16), nullable=False)
    )
    # Where the live progress message is, edited in place as deliveries go out.
    progress_chat_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    progress_message_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    confirmed_at: datetime | None = Field(default=None, sa_column=_utc_column())
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column())


class BroadcastDelivery(SQLModel, table=True):
    """One recipient of a broadcast: the row makes a resumed broadcast skip nobody."""

    __table_args__ = (
        sa.UniqueConstraint("broadcast_id", "patient_id"),
        sa.Index("ix_delivery_broadcast_status", "broadcast_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id")
    patient_id: int = Field(foreign_key="patient.id")
    status: DeliveryStatus = Field(
        default=DeliveryStatus.PENDING, sa_column=sa.Column(sa.String(16), nullable=False)
    )
    attempts: int = 0
    claimed_by: str | None = None
    claimed_until: datetime | None = Field(default=None, sa_column=_utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column())
    message_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    last_error: str | None = None


class Staff(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("clinic_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    # Telegram user id; alerts go to the private chat, whose id is the same.
    user_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    role: StaffRole = Field(
        default=StaffRole.STAFF, sa_column=sa.Column(sa.String(16), nullable=False)
    )
    active: bool = True
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class ConsoleLink(SQLModel, table=True):
    """A single-use, short-lived sign-in link to the web console, sent to one staff member
    in Telegram. Only a hash of its secret is kept: the database alone cannot sign in."""

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    secret_hash: str = Field(sa_column=sa.Column(sa.String(64), unique=True, nullable=False))
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_utc_column())


class SymptomReport(SQLModel, table=True):
    """What a patient reported, how triage judged it, and who at the clinic dealt with it.

    Open urgent reports are an outbox of their own: ``next_alert_at`` says when staff are
    alerted (again), ``alert_claimed_until`` keeps two processes from alerting at once.
    """

    __table_args__ = (sa.Index("ix_report_state_alert", "state", "next_alert_at"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    clinic_id: int | None = Field(default=None, foreign_key="clinic.id", index=True)
    treatment_id: int | None = Field(default=None, foreign_key="treatment.id")
    day: int | None = None  # local days since treatment, if there is one
    source: str = "text"  # text | photo | check (a red-flag check-in) | clarified
    text: str = Field(default="", max_length=1024)
    photo_file_id: str | None = None
    level: str
    findings: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, default=list)
    )
    # Unsure: waiting for the patient's answer to the clarifying question.
    clarifying: bool = False
    state: EscalationState = Field(
        default=EscalationState.NONE, sa_column=sa.Column(sa.String(16), nullable=False)
    )
    next_alert_at: datetime | None = Field(default=None, sa_column=_utc_column())
    alert_claimed_until: datetime | None = Field(default=None, sa_column=_utc_column())
    alerts_sent: int = 0
    acknowledged_by: int | None = Field(default=None, foreign_key="staff.id")
    acknowledged_at: datetime | None = Field(default=None, sa_column=_utc_column())
    closed_at: datetime | None = Field(default=None, sa_column=_utc_column())
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class StaffAlert(SQLModel, table=True):
    """One alert message in a staff chat, so a reply to it finds its report."""

    __table_args__ = (sa.UniqueConstraint("chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="symptomreport.id", index=True)
    chat_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    message_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    sent_at: datetime = Field(sa_column=_utc_column(nullable=False))


class Patient(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int | None = Field(default=None, foreign_key="clinic.id", index=True)
    chat_id: int = Field(sa_column=sa.Column(sa.BigInteger, unique=True, nullable=False))
    locale: str = "en"
    timezone: str | None = None
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    skin_type: str | None = None
    status: PatientStatus = Field(
        default=PatientStatus.ONBOARDING, sa_column=sa.Column(sa.String(16), nullable=False)
    )
    # What the bot is waiting for from this patient (a typed timezone, date...).
    awaiting: str | None = None
    start_payload: str | None = Field(default=None, max_length=64)
    consent_at: datetime | None = Field(default=None, sa_column=_utc_column())
    redness_gone_at: datetime | None = Field(default=None, sa_column=_utc_column())
    # Redness still open after day 7: recorded for the clinic's review.
    redness_review_at: datetime | None = Field(default=None, sa_column=_utc_column())
    # Profile from the enrolment questions (skippable, changeable in /settings).
    pigmentation_watch: bool = False
    contraindications: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, default=list)
    )
    profile_done_at: datetime | None = Field(default=None, sa_column=_utc_column())
    # Outdoor mode: when the current outing began (None when indoors).
    outdoors_since: datetime | None = Field(default=None, sa_column=_utc_column())
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class Protocol(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("slug", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(index=True)
    version: int
    checksum: str
    body: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    change_note: str | None = None
    created_by: str | None = None
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class Treatment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    protocol_id: int = Field(foreign_key="protocol.id")
    treated_at: datetime = Field(sa_column=_utc_column(nullable=False))
    area: str | None = None
    course: str = "standard"  # an id from the protocol's courses
    course_number: int = 1
    active: bool = True
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class Reminder(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("treatment_id", "step_id", "occurrence"),
        sa.Index("ix_reminder_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    treatment_id: int = Field(foreign_key="treatment.id")
    patient_id: int = Field(foreign_key="patient.id", index=True)
    step_id: str
    occurrence: int
    due_at: datetime = Field(sa_column=_utc_column(nullable=False))
    # The plan's time, kept once ``due_at`` moves (a retry, quiet hours, queued behind
    # another): lateness is judged from it, and a re-plan compares with it. None: not moved.
    planned_at: datetime | None = Field(default=None, sa_column=_utc_column())
    # Set just before a send goes out, cleared when a retry knows it did not: a row found
    # with it after a crash may have reached the patient.
    send_started_at: datetime | None = Field(default=None, sa_column=_utc_column())
    status: ReminderStatus = Field(
        default=ReminderStatus.PENDING, sa_column=sa.Column(sa.String(16), nullable=False)
    )
    attempts: int = 0
    last_error: str | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = Field(default=None, sa_column=_utc_column())
    sent_message_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column())
    answered_at: datetime | None = Field(default=None, sa_column=_utc_column())  # check-ins
    # A snoozed copy points at the reminder it repeats; the planner never touches it.
    snoozed_from: int | None = Field(default=None, foreign_key="reminder.id")
