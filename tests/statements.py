"""Counting the SQL a piece of code sends: for tests that hold a request to its statements."""

from __future__ import annotations

from collections.abc import Iterator
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
    seen: list[str] = []
    afresh = (CacheStats.CACHE_MISS, CacheStats.NO_CACHE_KEY)

    def hook(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, *_rest: Any) -> None:
        if getattr(context, "compiled", None) is not None and context.cache_hit in afresh:
            seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", hook)


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while inside, whitespace collapsed."""
    seen: list[str] = []

    def hook(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", hook)
