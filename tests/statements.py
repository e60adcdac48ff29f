"""Counting the SQL a piece of code sends: for tests that hold a request to its statements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.default import CacheStats


@contextmanager
def compiled_afresh() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while inside that SQLAlchemy compiled for it rather than
    finding it in its statement cache (a cache miss, or a statement with no cache key). Raw SQL
    (``BEGIN IMMEDIATE``, a driver's own) is not counted."""
    afresh = (CacheStats.CACHE_MISS, CacheStats.NO_CACHE_KEY)
    with _sent(lambda c: getattr(c, "compiled", None) is not None and c.cache_hit in afresh) as seen:
        yield seen


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while inside, whitespace collapsed."""
    with _sent(lambda _context: True) as seen:
        yield seen


@contextmanager
def _sent(counted: Callable[[Any], bool]) -> Iterator[list[str]]:
    """Every statement any engine sends while inside whose execution context is ``counted``."""
    seen: list[str] = []

    def hook(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, *_rest: Any) -> None:
        if counted(context):
            seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", hook)
