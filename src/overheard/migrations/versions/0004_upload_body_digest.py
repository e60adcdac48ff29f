"""upload body digest: a keyed hash of each upload's body, to refuse a reused Idempotency-Key

Revision ID: 0004_upload_body_digest
Revises: 0003_disguise_version
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_upload_body_digest"
down_revision: str | None = "0003_disguise_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("body_digest", sa.LargeBinary(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("body_digest")
