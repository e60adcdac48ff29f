"""Seconds of audio in each serve (hear less: a serve may hold only part of a clip).

Revision ID: 0002_served_seconds
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_served_seconds"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``watermarks.served_s``."""
    with op.batch_alter_table("watermarks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("served_s", sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop ``watermarks.served_s``."""
    with op.batch_alter_table("watermarks", schema=None) as batch_op:
        batch_op.drop_column("served_s")
