"""Console sign-in links (issue 9): single use, short-lived, stored as a hash.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import schedules.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consolelink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", schedules.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", schedules.models.UTCDateTime(), nullable=False),
        sa.Column("used_at", schedules.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    op.create_index(op.f("ix_consolelink_staff_id"), "consolelink", ["staff_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_consolelink_staff_id"), table_name="consolelink")
    op.drop_table("consolelink")
