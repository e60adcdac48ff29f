"""The SQLite database file is private to the service's user wherever an operator puts it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from overheard.db import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write_something(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x TEXT)"))
            conn.execute(text("INSERT INTO t VALUES ('ciphertext')"))
        # The WAL and shared-memory files exist while a connection is open: look at them now.
        with engine.connect() as conn:
            conn.execute(text("SELECT x FROM t")).all()
            folder = Path(url.split("///", 1)[1]).parent
            for extra in ("db.sqlite-wal", "db.sqlite-shm"):
                assert (folder / extra).exists()
                assert _mode(folder / extra) == 0o600, extra
    finally:
        engine.dispose()


def test_a_new_database_outside_the_data_folder_is_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    old = os.umask(0o022)
    try:
        _write_something(f"sqlite:///{shared / 'db.sqlite'}")
    finally:
        os.umask(old)
    assert _mode(shared / "db.sqlite") == 0o600


def test_an_existing_world_readable_database_of_ours_is_narrowed(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    _write_something(f"sqlite:///{db}")
    assert _mode(db) == 0o600


def test_a_new_folder_for_the_database_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'db.sqlite'}")
        engine.dispose()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "new") == 0o700
    assert _mode(tmp_path / "new" / "db.sqlite") == 0o600


def test_a_database_error_names_the_statement_never_its_values(database_url):
    """Errors are logged (an unhandled one with its trace): a value in them would put sign-in
    names, token hashes or addresses in the log."""
    import pytest
    from sqlalchemy import exc, text

    from overheard.db import make_engine, migrate

    engine = make_engine(database_url)
    migrate(engine)
    secret = "grace.hopper@example.org-0123"
    insert = text("INSERT INTO households (id) VALUES (:id)")
    with pytest.raises(exc.DBAPIError) as refused, engine.begin() as conn:
        conn.execute(insert, {"id": secret})
        conn.execute(insert, {"id": secret})  # the same key again
    engine.dispose()
    message = str(refused.value)  # PostgreSQL's own detail may quote the row: see test_web
    assert "INSERT INTO households" in message and "[parameters:" not in message
    assert f"'{secret}'" not in message
