"""Reminders keep their planned time when a retry or quiet hours move them, and note when
a send of them started, so a crash mid-send is recorded as "maybe sent" (issue 17).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import schedules.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reminder") as batch:
        batch.add_column(sa.Column("planned_at", schedules.models.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("send_started_at", schedules.models.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("reminder") as batch:
        batch.drop_column("send_started_at")
        batch.drop_column("planned_at")
