"""data_keys: deleted_spans, the capture times a household deleted

An upload captured in a span the household deleted (a range, "delete everything I said today")
and sent afterwards by a device that was offline is refused; the spans sit on the key row that
every upload's admission and commit already read, so the check costs no statement.

Revision ID: 0007_data_keys_deleted_spans
Revises: 0006_recordings_device_received
Create Date: 2026-12-06 13:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_data_keys_deleted_spans"
down_revision: str | None = "0006_recordings_device_received"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("data_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_spans", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_keys", schema=None) as batch_op:
        batch_op.drop_column("deleted_spans")
