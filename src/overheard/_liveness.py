"""A pooled PostgreSQL connection is checked before use only when it may have died unseen.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` on every check-out: a round trip before each
transaction (five a review cycle), nearly always to a connection used milliseconds ago. Instead a
connection is pinged at check-out only when

- it sat in the pool longer than ``PING_AFTER_IDLE_S`` (the server may have restarted, a proxy or
  firewall may have dropped it, without the client hearing of it yet), or
- its socket has something to read although no query is outstanding: a server that shuts down or
  terminates the backend sends its ``FATAL`` message and closes the socket, and the TCP keepalives
  (``db._postgres_timeouts``) turn a peer gone silent into a socket error, both readable at once.

A ping that fails raises ``DisconnectionError``, on which the pool discards the connection and
checks out another (what ``pool_pre_ping`` does). A connection that dies after it was checked out
fails its statement; SQLAlchemy then invalidates the whole pool, so the connections older than the
failure are replaced at their next check-out.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

PING_AFTER_IDLE_S = 1.0
"""A connection idle in the pool longer than this is pinged before use, seconds."""
_RETURNED_AT = "overheard_returned_at"
"""``ConnectionRecord.info`` key: when the connection was last returned to the pool (clock s)."""


def check_on_checkout(
    engine: Engine, idle_s: float = PING_AFTER_IDLE_S, clock: Callable[[], float] = time.monotonic
) -> None:
    """Install the check on ``engine``'s pool (used instead of ``pool_pre_ping``)."""

    def returned(_dbapi: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = clock()

    def checked_out(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_RETURNED_AT)
        if since is not None and clock() - since <= idle_s and not _readable(dbapi):
            return
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as exc:  # any failure: the pool replaces the connection
            raise DisconnectionError(f"connection failed its check: {type(exc).__name__}") from exc

    event.listen(engine, "connect", returned)  # a new connection was just checked by connecting
    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", checked_out)


def _readable(dbapi: Any) -> bool:
    """Whether the idle connection's socket has data or an error waiting (it should have none)."""
    try:
        fd = dbapi.fileno()
    except Exception:  # closed or broken: check it
        return True
    poller = select.poll()  # not select(): file numbers above 1023 are fine
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))  # POLLERR and POLLHUP are reported whatever was asked
