"""Initial schema: every table of ``schedules/models.py`` as of issue 7.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import schedules.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clinic",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("emergency_number", sa.String(), nullable=True),
        sa.Column("staff_code", sa.String(), nullable=True),
        sa.Column("patient_code", sa.String(length=64), nullable=True),
        sa.Column("protocol_slug", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", schedules.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_code"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "protocol",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("checksum", sa.String(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("change_note", sa.String(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("created_at", schedules.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug", "version"),
    )
    op.create_index(op.f("ix_protocol_slug"), "protocol", ["slug"], unique=False)
    op.create_table(
        "patient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("locale", sa.String(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=True),
        sa.Column("quiet_start", sa.String(), nullable=False),
        sa.Column("quiet_end", sa.String(), nullable=False),
        sa.Column("skin_type", sa.String(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("awaiting", sa.String(), nullable=True),
        sa.Column("start_payload", sa.String(length=64), nullable=True),
        sa.Column("consent_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("redness_gone_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("redness_review_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("pigmentation_watch", sa.Boolean(), nullable=False),
        sa.Column("contraindications", sa.JSON(), nullable=False),
        sa.Column("profile_done_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("outdoors_since", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", schedules.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id"),
    )
    op.create_index(op.f("ix_patient_clinic_id"), "patient", ["clinic_id"], unique=False)
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", schedules.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clinic_id", "user_id"),
    )
    op.create_index(op.f("ix_staff_clinic_id"), "staff", ["clinic_id"], unique=False)
    op.create_index(op.f("ix_staff_user_id"), "staff", ["user_id"], unique=False)
    op.create_table(
        "broadcast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(length=4096), nullable=False),
        sa.Column("photo_file_id", sa.String(), nullable=True),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", schedules.models.UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("finished_at", schedules.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_broadcast_clinic_id"), "broadcast", ["clinic_id"], unique=False)
    op.create_table(
        "invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", schedules.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", schedules.models.UTCDateTime(), nullable=False),
        sa.Column("used_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("used_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(op.f("ix_invite_clinic_id"), "invite", ["clinic_id"], unique=False)
    op.create_table(
        "treatment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.Integer(), nullable=False),
        sa.Column("treated_at", schedules.models.UTCDateTime(), nullable=False),
        sa.Column("area", sa.String(), nullable=True),
        sa.Column("course", sa.String(), nullable=False),
        sa.Column("course_number", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", schedules.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["protocol_id"],
            ["protocol.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_treatment_patient_id"), "treatment", ["patient_id"], unique=False)
    op.create_table(
        "broadcastdelivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_until", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("sent_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcast.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("broadcast_id", "patient_id"),
    )
    op.create_index(
        "ix_delivery_broadcast_status",
        "broadcastdelivery",
        ["broadcast_id", "status"],
        unique=False,
    )
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("treatment_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("due_at", schedules.models.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_until", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("sent_message_id", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("answered_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("snoozed_from", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["snoozed_from"],
            ["reminder.id"],
        ),
        sa.ForeignKeyConstraint(
            ["treatment_id"],
            ["treatment.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("treatment_id", "step_id", "occurrence"),
    )
    op.create_index(op.f("ix_reminder_patient_id"), "reminder", ["patient_id"], unique=False)
    op.create_index("ix_reminder_status_due", "reminder", ["status", "due_at"], unique=False)
    op.create_table(
        "symptomreport",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=True),
        sa.Column("treatment_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("text", sa.String(length=1024), nullable=False),
        sa.Column("photo_file_id", sa.String(), nullable=True),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("clarifying", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_alert_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("alert_claimed_until", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("alerts_sent", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("closed_at", schedules.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", schedules.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["staff.id"],
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["treatment_id"],
            ["treatment.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_report_state_alert", "symptomreport", ["state", "next_alert_at"], unique=False
    )
    op.create_index(
        op.f("ix_symptomreport_clinic_id"), "symptomreport", ["clinic_id"], unique=False
    )
    op.create_index(
        op.f("ix_symptomreport_patient_id"), "symptomreport", ["patient_id"], unique=False
    )
    op.create_table(
        "staffalert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", schedules.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["symptomreport.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "message_id"),
    )
    op.create_index(op.f("ix_staffalert_report_id"), "staffalert", ["report_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_staffalert_report_id"), table_name="staffalert")
    op.drop_table("staffalert")
    op.drop_index(op.f("ix_symptomreport_patient_id"), table_name="symptomreport")
    op.drop_index(op.f("ix_symptomreport_clinic_id"), table_name="symptomreport")
    op.drop_index("ix_report_state_alert", table_name="symptomreport")
    op.drop_table("symptomreport")
    op.drop_index("ix_reminder_status_due", table_name="reminder")
    op.drop_index(op.f("ix_reminder_patient_id"), table_name="reminder")
    op.drop_table("reminder")
    op.drop_index("ix_delivery_broadcast_status", table_name="broadcastdelivery")
    op.drop_table("broadcastdelivery")
    op.drop_index(op.f("ix_treatment_patient_id"), table_name="treatment")
    op.drop_table("treatment")
    op.drop_index(op.f("ix_invite_clinic_id"), table_name="invite")
    op.drop_table("invite")
    op.drop_index(op.f("ix_broadcast_clinic_id"), table_name="broadcast")
    op.drop_table("broadcast")
    op.drop_index(op.f("ix_staff_user_id"), table_name="staff")
    op.drop_index(op.f("ix_staff_clinic_id"), table_name="staff")
    op.drop_table("staff")
    op.drop_index(op.f("ix_patient_clinic_id"), table_name="patient")
    op.drop_table("patient")
    op.drop_index(op.f("ix_protocol_slug"), table_name="protocol")
    op.drop_table("protocol")
    op.drop_table("clinic")
