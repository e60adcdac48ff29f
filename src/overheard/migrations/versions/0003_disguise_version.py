"""Disguised renditions record the version of the disguise method that made them.

Revision ID: 0003_disguise_version
Revises: 0002_served_seconds
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_disguise_version"
down_revision: str | None = "0002_served_seconds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Existing copies were made by the first version of the method."""
    with op.batch_alter_table("disguised_clips", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("method_version", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("disguised_clips", schema=None) as batch_op:
        batch_op.drop_column("method_version")
