"""Database engine, sessions and the declarative base.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is chosen by URL. Schema changes go
through Alembic migrations in ``overheard/migrations``; ``migrate()`` brings a database up to date.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from . import _liveness

SQLITE_BUSY_TIMEOUT_MS = 30_000


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_utc(when: datetime) -> datetime:
    """A stored time as an aware UTC time: SQLite hands back naive times where a column's type
    does not apply (an aggregate, a row read before the type's processing)."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=FULL")
    # Freed space is zeroed whatever the build's default (Debian's is on, SQLite's own is off): a
    # deleted clip's ciphertext is readable with its household's live key.
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


WAL_TRUNCATE_WAIT_MS = 2000
"""Longest wait of :func:`truncate_wal` for readers of older snapshots and writers to finish."""


def truncate_wal(engine: Engine) -> bool:
    """On SQLite, copy the write-ahead log into the database and empty the log file; True when done
    (always on PostgreSQL, which has no such file to empty).

    The log keeps every page as it was written until its frames are overwritten, deleted rows
    included: after a deletion, this leaves their bytes only where ``secure_delete`` zeroed them.
    It waits at most ``WAL_TRUNCATE_WAIT_MS`` for readers and writers (the next call retries).
    """
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()
    cur = raw.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={WAL_TRUNCATE_WAIT_MS}")
        busy = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()
        raw.close()
    return bool(busy == 0)


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN so two writers never deadlock on a read->write upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def make_engine(
    url: str,
    *,
    writer: bool = True,
    connect_timeout_s: float = 5.0,
    statement_timeout_s: float = 60.0,
) -> Engine:
    """An engine for ``url``: SQLite with WAL + foreign keys, or PostgreSQL (psycopg 3).

    On SQLite a writer engine begins every transaction IMMEDIATE (the write lock up front); a
    reader engine (``writer=False``) begins deferred, so reads proceed beside a writer under WAL.
    Either way a database error's message names the statement, never its values
    (``hide_parameters``): errors are logged, and values are sign-in names, token hashes, addresses.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            _private_sqlite_file(Path(path))
        engine = create_engine(
            url, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling is switched off so BEGIN IMMEDIATE is ours to send.
        event.listen(engine, "connect", lambda c, _r: setattr(c, "isolation_level", None))
        event.listen(engine, "begin", _sqlite_begin_immediate if writer else _sqlite_begin)
        return engine
    if url.startswith("postgresql"):
        engine = create_engine(
            url,
            hide_parameters=True,
            pool_size=10,
            max_overflow=20,
            pool_timeout=connect_timeout_s,
            connect_args=_postgres_timeouts(connect_timeout_s, statement_timeout_s),
        )
        # Instead of pool_pre_ping's round trip before every transaction: only a connection idle
        # for a while, or whose socket shows the server hung up, is pinged (see _liveness).
        _liveness.check_on_checkout(engine)
        return engine
    raise ValueError(f"unsupported database URL scheme in {url.split(':', 1)[0]!r}")


def _private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 (its -wal and -shm files follow its mode), wherever it lives.

    Rows hold ciphertext, wrapped keys, password hashes and the audit log: nobody else on the host
    should read them, even when an operator points the database outside the 0700 data folder.
    An existing file of ours is narrowed to 0600 as well.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        info = os.fstat(fd)
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _postgres_timeouts(connect_timeout_s: float, statement_timeout_s: float) -> dict[str, Any]:
    # Bound every wait on a database that went away: the connect, an unacknowledged send
    # (tcp_user_timeout) and a silent peer (keepalives); a statement by statement_timeout.
    args: dict[str, Any] = {
        "connect_timeout": max(1, round(connect_timeout_s)),
        "tcp_user_timeout": round(connect_timeout_s * 1000),
        "keepalives": 1,
        "keepalives_idle": max(1, round(connect_timeout_s)),
        "keepalives_interval": 1,
        "keepalives_count": 3,
    }
    if statement_timeout_s > 0:
        args["options"] = f"-c statement_timeout={round(statement_timeout_s * 1000)}"
    return args


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
