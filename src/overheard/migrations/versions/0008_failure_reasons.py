"""jobs.last_error and recordings.status_reason: failures recorded before keep their type only

A failure used to be recorded as ``Type: message`` and the whole trace (chained messages
included), on the job's row and, as ``Type: message``, on the failed recording's
``status_reason``; a message may quote what was said, and both places are plaintext an operator
reads outside the content gate. Failures are now recorded by type (and an error code of ours)
with message-free frames; this rewrites the rows recorded the old way to the exception's type,
which is all that may stay. Rows already in the new form are left as they are. There is no way
back: the downgrade leaves the rows as they are.

Revision ID: 0008_failure_reasons
Revises: 0007_data_keys_deleted_spans
Create Date: 2026-12-06 17:00:00
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_failure_reasons"
down_revision: str | None = "0007_data_keys_deleted_spans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAFE_FIRST_LINE = re.compile(r"[A-Za-z_][\w.]*(?: \([A-Za-z0-9_]+\))?")
"""The first line of a failure recorded the new way: the type and, perhaps, our code."""
TYPE_NAME = re.compile(r"[A-Za-z_][\w.]*")
REMOVED = "(recorded before messages were kept out of failures: its message and trace were removed)"
BATCH = 500


def scrubbed(recorded: str, *, keep_trace: bool) -> str | None:
    """What may stay of a failure ``recorded``: None when it is already safe (left as it is)."""
    first, _, rest = recorded.partition("\n")
    if SAFE_FIRST_LINE.fullmatch(first) and (keep_trace or not rest):
        return None
    match = TYPE_NAME.match(first)
    name = match.group(0) if match else "Error"
    return f"{name}\n{REMOVED}" if keep_trace else name


def _rewrite(table: str, key: str, column: str, where: str, *, keep_trace: bool) -> None:
    bind = op.get_bind()
    rows = sa.table(table, sa.column(key), sa.column(column))
    last = ""
    while True:
        found = bind.execute(
            sa.text(
                f"SELECT {key}, {column} FROM {table} WHERE {where} AND {key} > :last "  # noqa: S608 - fixed names
                f"ORDER BY {key} LIMIT {BATCH}"
            ),
            {"last": last},
        ).all()
        if not found:
            return
        for row_key, recorded in found:
            safe = scrubbed(recorded, keep_trace=keep_trace)
            if safe is not None:
                bind.execute(
                    rows.update().where(rows.c[key] == row_key).values({column: safe})
                )
        last = found[-1][0]


def upgrade() -> None:
    _rewrite("jobs", "id", "last_error", "last_error IS NOT NULL", keep_trace=True)
    _rewrite(
        "recordings",
        "id",
        "status_reason",
        "status = 'failed' AND status_reason IS NOT NULL",
        keep_trace=False,
    )


def downgrade() -> None:
    """Nothing to undo: the messages are gone, and the new form reads as the old one did."""
