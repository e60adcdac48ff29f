"""Per-household data keys: created, unwrapped (cached briefly), re-wrapped on rotation, destroyed.

A household's data key is 256 random bits, stored only wrapped by the key-encryption key (KEK).
Destroying it (crypto-shredding) makes every ciphertext under it unreadable everywhere at once:
rows, blobs, exports and backups alike.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .crypto.aead import new_data_key
from .crypto.kek import KeyEncryptionKey
from .db import Base, utcnow
from .errors import KeyUnavailable

CACHE_TTL_S = 60.0
"""How long an unwrapped data key stays in memory."""
CACHE_SIZE = 1024
"""How many unwrapped data keys stay in memory at most."""


class DataKey(Base):
    """A household's wrapped data key; ``wrapped`` is NULL once destroyed."""

    __tablename__ = "data_keys"

    household_id: Mapped[str] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), primary_key=True
    )
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    kek_version: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    destroyed_at: Mapped[datetime | None] = mapped_column(default=None)


@dataclass
class KeyRing:
    """Data keys of every household, unwrapped through the KEK and cached for ``CACHE_TTL_S``."""

    kek: KeyEncryptionKey

    def __post_init__(self) -> None:
        self._cache: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, session: Session, household_id: str) -> None:
        """Make and store the wrapped data key of a new household."""
        wrapped = self.kek.wrap(new_data_key())
        session.add(
            DataKey(
                household_id=household_id, wrapped=wrapped, kek_version=self.kek.current_version()
            )
        )
        session.flush()

    def data_key(self, session: Session, household_id: str) -> bytes:
        """The household's plaintext data key; KeyUnavailable once it was destroyed."""
        row = session.get(DataKey, household_id)
        if row is None or row.wrapped is None:
            self.forget(household_id)
            raise KeyUnavailable(f"the data key of {household_id} was destroyed")
        with self._lock:
            hit = self._cache.get(household_id)
            if hit is not None and hit[0] > time.monotonic():
                self._cache.move_to_end(household_id)
                return hit[1]
        key = self.kek.unwrap(row.wrapped)
        with self._lock:
            self._cache[household_id] = (time.monotonic() + CACHE_TTL_S, key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return key

    def forget(self, household_id: str) -> None:
        """Drop a cached key (after destruction)."""
        with self._lock:
            self._cache.pop(household_id, None)

    def destroy(self, session: Session, household_id: str, *, now: datetime | None = None) -> bool:
        """Crypto-shred: erase the wrapped key. True if a live key was destroyed."""
        row = session.get(DataKey, household_id)
        self.forget(household_id)
        if row is None or row.wrapped is None:
            return False
        row.wrapped = None
        row.destroyed_at = now or utcnow()
        session.flush()
        return True

    def rotate(self, session: Session, *, now: datetime | None = None) -> tuple[str, int]:
        """A new KEK version, then every live data key re-wrapped under it; blobs are untouched."""
        version = self.kek.rotate()
        count = 0
        for row in session.scalars(select(DataKey).where(DataKey.wrapped.is_not(None))):
            assert row.wrapped is not None
            row.wrapped = self.kek.wrap(self.kek.unwrap(row.wrapped))
            row.kek_version = version
            row.rotated_at = now or utcnow()
            count += 1
        session.flush()
        return version, count
