"""households.human_review_since: consent covers what is recorded after it is given

A clip recorded while a household's review was off was sampled once review was turned on (a
device's offline backlog, a job retried later): consent now covers only clips captured and
received after review was last turned on. Households whose review is on when this runs keep NULL,
which covers every clip, as before: when they turned it on was not recorded.

Revision ID: 0009_household_review_since
Revises: 0008_failure_reasons
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import overheard.db

revision: str = "0009_household_review_since"
down_revision: str | None = "0008_failure_reasons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both databases (SQLite >= 3.35 drops a column in place): a batch operation
# would rebuild ``households`` on SQLite, and dropping the old table cascades to every row that
# references a household (keys, devices, recordings).


def upgrade() -> None:
    op.add_column(
        "households",
        sa.Column("human_review_since", overheard.db.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("households", "human_review_since")
