"""recordings: index (device_id, received_at) for the per-device upload limit

The limit reads a device's newest uploads in the window on every upload; on the device_id index
alone that read sorted every recording the device ever made. The new index serves it in order,
and device_id look-ups as well, so it replaces the device_id index.

Revision ID: 0006_recordings_device_received
Revises: 0005_purges
Create Date: 2026-12-05 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_recordings_device_received"
down_revision: str | None = "0005_purges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recordings_device_received", ["device_id", "received_at"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_recordings_device_id"))


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_device_id"), ["device_id"], unique=False)
        batch_op.drop_index("ix_recordings_device_received")
