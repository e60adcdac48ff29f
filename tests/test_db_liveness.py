"""PostgreSQL pool connections are pinged only when they may have died unseen, and a dead one is
replaced before the transaction that would have used it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from overheard import _liveness
from overheard.db import make_engine

from .conftest import _admin_engine, cloned_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_template: str) -> Iterator[Engine]:
    with cloned_postgres(postgres_template) as url:
        made = make_engine(url)
        yield made
        made.dispose()


def _count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings = [0]
    real = engine.dialect.do_ping

    def counted(dbapi: object) -> bool:
        pings[0] += 1
        return real(dbapi)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_transactions_back_to_back_send_no_ping(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _count_pings(engine, monkeypatch)
    for _ in range(5):
        with engine.begin() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert pings[0] == 0


def test_a_connection_idle_past_the_limit_is_pinged(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _backend_pid(engine)  # one pooled connection, returned just now
    pings = _count_pings(engine, monkeypatch)
    pool = engine.pool
    for record in list(pool._pool.queue):  # type: ignore[attr-defined]
        record.info[_liveness._RETURNED_AT] -= 3600.0
    _backend_pid(engine)
    assert pings[0] == 1


def test_a_connection_the_server_ended_is_replaced_before_use(engine: Engine) -> None:
    dead = _backend_pid(engine)
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": dead}).scalar_one()
            # the backend has gone once it leaves pg_stat_activity
            for _ in range(200):
                gone = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": dead}
                ).scalar_one()
                if not gone:
                    break
    finally:
        admin.dispose()
    # used again at once (well inside the idle limit): its socket shows the hang-up
    assert _backend_pid(engine) != dead
