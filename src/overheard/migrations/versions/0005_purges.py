"""purges: copies recorded gone only once gone; tracked plaintext working copies; destroyed models

Revision ID: 0005_purges
Revises: 0004_upload_body_digest
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import overheard.db

revision: str = "0005_purges"
down_revision: str | None = "0004_upload_body_digest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = overheard.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "purges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=8), nullable=False),
        sa.Column("location", sa.String(length=1000), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("recording_id", sa.String(length=32), nullable=True),
        sa.Column("household_id", sa.String(length=32), nullable=True),
        sa.Column("receipt_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("purges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purges_batch"), ["batch"], unique=False)
        batch_op.create_index(batch_op.f("ix_purges_location"), ["location"], unique=False)
        batch_op.create_index(batch_op.f("ix_purges_recording_id"), ["recording_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_purges_receipt_id"), ["receipt_id"], unique=False)
    op.create_table(
        "learn_working_copies",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("export_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=True),
        sa.Column("removed_at", UTC, nullable=True),
        sa.Column("removed_because", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["export_id"], ["learn_exports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("learn_working_copies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learn_working_copies_export_id"), ["export_id"], unique=False
        )
    with op.batch_alter_table("deletion_receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completed_at", UTC, nullable=True))
    with op.batch_alter_table("learn_model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("destroyed_at", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("learn_model_versions", schema=None) as batch_op:
        batch_op.drop_column("destroyed_at")
    with op.batch_alter_table("deletion_receipts", schema=None) as batch_op:
        batch_op.drop_column("completed_at")
    op.drop_table("learn_working_copies")
    op.drop_table("purges")
