"""The databases a benchmark runs on: a fresh SQLite file and, when reachable, a throw-away
PostgreSQL database on ``OVERHEARD_TEST_POSTGRES_URL`` (dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

POSTGRES_URL = os.environ.get(
    "OVERHEARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ALL = frozenset({"sqlite", "postgresql"})


def databases(tmp: Path, wanted: frozenset[str] | set[str] = ALL) -> Iterator[tuple[str, str]]:
    """``(name, url)`` for each wanted database; PostgreSQL is skipped (and said so) if unreachable."""
    if "sqlite" in wanted:
        yield "sqlite", f"sqlite:///{tmp / 'bench.db'}"
    if "postgresql" not in wanted:
        return
    name = f"ovh_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:
        print(f"(PostgreSQL skipped: {type(exc).__name__})")
        admin.dispose()
        return
    try:
        yield "postgresql", POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
