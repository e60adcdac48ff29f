"""Per-household data keys: created, unwrapped (cached briefly), re-wrapped on rotation, destroyed.

A household's data key is 256 random bits, stored only wrapped by the key-encryption key (KEK).
Destroying it (crypto-shredding) makes every ciphertext under it unreadable everywhere at once:
rows, blobs, exports and backups alike.

With a :class:`KeyShares` store the key used on content is ``HKDF(unwrapped, salt=share)``, where the
share is 32 random bytes kept outside the database. Destroying the share as well means a database
backup taken before the deletion, restored under the same KEK, still cannot rebuild the key. A
household's key has a *generation*: "delete everything" replaces generation n by n + 1.

A replaced or destroyed key's share is erased only once the transaction that stops naming it has
committed (:func:`destroy_after_commit`): a process killed before that commit leaves the row and
its share as they were, one killed after it leaves a share no row names, which
:func:`sweep_orphan_shares` erases (at start-up and on every retention sweep).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import JSON, ForeignKey, LargeBinary, String, bindparam, event, select, update
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column, sessionmaker

from . import durable
from .crypto.aead import new_data_key
from .crypto.kek import KeyEncryptionKey
from .db import Base, utcnow
from .errors import KeyUnavailable, safe_reason
from .expiry import ExpiryTimer

log = logging.getLogger(__name__)

CACHE_TTL_S = 60.0
"""How long an unwrapped data key stays in memory, seconds (swept by a timer, not only on use)."""
CACHE_SIZE = 1024
"""How many unwrapped data keys stay in memory at most."""
SHARE_BYTES = 32
"""Random bytes in a household key share."""
SHARE_MODE = 0o600
SHARE_INFO = b"overheard/household-data-key/v1|"
"""HKDF context prefix; the household id and generation follow it."""
KEY_GONE = "this household's data key was destroyed"
"""What a refusal for want of a destroyed key (or key share) says: never which household (or share,
whose name holds the household): it reaches a reviewer holding a lease on one of its clips."""
SHARE_NAME = re.compile(r"^(?P<household_id>.+)\.g(?P<generation>[0-9]+)$")
"""A share's file name: the household id and the generation it salts."""
_SHARES_AFTER_COMMIT = "overheard.key_shares_after_commit"
"""``Session.info`` key: the shares to erase once the transaction has committed."""


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
    """When the previous generation was destroyed, if one was."""
    generation: Mapped[int] = mapped_column(default=1)
    """1 for the first key; each "delete everything" moves to a new generation."""
    share_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """Name of the key share outside the database; NULL = no share (the key is the unwrapped one)."""
    deleted_spans: Mapped[list[list[str]] | None] = mapped_column(JSON, default=None)
    """Capture-time spans ``[from, to)`` (ISO UTC) the household deleted, merged and bounded: an
    upload captured in one is refused (``overheard.recordings.erased``). NULL = none."""


class KeyShares:
    """Household key shares: one small file each, outside the database, erased on destruction."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, share_id: str) -> None:
        """Write a new random share (mode 0600, synced); refuses to overwrite."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not durable.write_new(self.root / share_id, os.urandom(SHARE_BYTES), mode=SHARE_MODE):
            raise FileExistsError(
                errno.EEXIST, os.strerror(errno.EEXIST), str(self.root / share_id)
            )

    def get(self, share_id: str) -> bytes:
        """The share's bytes; KeyUnavailable when it was destroyed."""
        try:
            return (self.root / share_id).read_bytes()
        except FileNotFoundError:
            raise KeyUnavailable(KEY_GONE) from None

    def exists(self, share_id: str) -> bool:
        """Whether the share is still on disk."""
        return (self.root / share_id).is_file()

    def names(self) -> list[tuple[str, str, int, float]]:
        """Every share on disk: ``(share_id, household_id, generation, modified at)``, the last in
        seconds since the epoch."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.iterdir():
            match = SHARE_NAME.match(path.name)
            if match is None:
                continue
            try:
                modified = path.stat().st_mtime
            except FileNotFoundError:
                continue
            hh, generation = match["household_id"], int(match["generation"])
            found.append((path.name, hh, generation, modified))
        return sorted(found)

    def destroy(self, share_id: str) -> bool:
        """Overwrite, then unlink a share; True if it existed."""
        path = self.root / share_id
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            return False
        try:
            os.write(fd, b"\0" * SHARE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
        durable.sync_dir(self.root)
        return True


def derive(unwrapped: bytes, share: bytes, household_id: str, generation: int) -> bytes:
    """The content key of a household generation: HKDF-SHA256 of the unwrapped key, salted by the share."""
    info = SHARE_INFO + f"{household_id}|{generation}".encode()
    return HKDF(hashes.SHA256(), length=SHARE_BYTES, salt=share, info=info).derive(unwrapped)


_DATA_KEY = select(DataKey).where(DataKey.household_id == bindparam("household_id"))
"""A household's key row (built once: every open and seal of content reads it)."""


@dataclass
class KeyRing:
    """Data keys of every household, unwrapped through the KEK and cached for ``CACHE_TTL_S``."""

    kek: KeyEncryptionKey
    shares: KeyShares | None = None
    """Where key shares live; None = keys without shares."""
    ttl_s: float = CACHE_TTL_S
    """How long an unwrapped key stays in memory, seconds (dropped then even if nothing asks)."""

    def __post_init__(self) -> None:
        # Oldest first: every entry lives ttl_s from when it was unwrapped, so the order of
        # insertion is the order of expiry (a hit does not renew it).
        self._cache: OrderedDict[str, tuple[float, bytes, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._expiry = ExpiryTimer(self._sweep, name="overheard-key-expiry")

    def create(self, session: Session, household_id: str) -> None:
        """Make and store the wrapped data key of a new household."""
        row = DataKey(household_id=household_id, kek_version=self.kek.current_version())
        self._fill(row, household_id, 1)
        session.add(row)
        session.flush()

    def _fill(self, row: DataKey, household_id: str, generation: int) -> None:
        row.wrapped = self.kek.wrap(new_data_key())
        row.kek_version = self.kek.current_version()
        row.generation = generation
        row.share_id = None
        if self.shares is not None:
            row.share_id = f"{household_id}.g{generation}"
            self.shares.destroy(row.share_id)  # a leftover of a rolled-back attempt, never used
            self.shares.create(row.share_id)

    def data_key(self, session: Session, household_id: str) -> bytes:
        """The household's plaintext data key; KeyUnavailable once it was destroyed."""
        # A row this session already loaded (the upload's admission joins it) costs no query.
        row = session.identity_map.get(Session.identity_key(DataKey, household_id))
        if row is None:
            row = session.scalars(_DATA_KEY, {"household_id": household_id}).first()
        return self.data_key_of(row, household_id)

    def data_key_of(self, row: DataKey | None, household_id: str) -> bytes:
        """:meth:`data_key` of a key row the caller read (None: the household has no key row),
        e.g. columns read without a session into a transient :class:`DataKey`. The cache counts
        a hit only for the same wrapped key, so a row read before a destruction still unwraps
        (the caller's commit checks it again); one read after gets KeyUnavailable."""
        if row is None or row.wrapped is None:
            self.forget(household_id)
            raise KeyUnavailable(KEY_GONE)
        with self._lock:
            self._drop_expired(time.monotonic())
            hit = self._cache.get(household_id)
            # A hit counts only for the same wrapped key: another process may have replaced it.
            if hit is not None and hit[1] == row.wrapped:
                return hit[2]
        key = self._unwrap(row)
        with self._lock:
            self._cache.pop(household_id, None)
            self._cache[household_id] = (time.monotonic() + self.ttl_s, row.wrapped, key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        self._expiry.arm(self.ttl_s)
        return key

    def cached(self) -> int:
        """How many unwrapped keys this process holds in memory."""
        with self._lock:
            return len(self._cache)

    def _drop_expired(self, now: float) -> None:
        """Drop the keys whose time is up (the caller holds the lock)."""
        while self._cache and next(iter(self._cache.values()))[0] <= now:
            self._cache.popitem(last=False)

    def _sweep(self) -> float | None:
        """The expiry timer's sweep: seconds until the next key is due, None when none is left."""
        now = time.monotonic()
        with self._lock:
            self._drop_expired(now)
            return next(iter(self._cache.values()))[0] - now if self._cache else None

    def _unwrap(self, row: DataKey) -> bytes:
        assert row.wrapped is not None
        unwrapped = self.kek.unwrap(row.wrapped)
        if row.share_id is None:
            return unwrapped
        if self.shares is None:
            raise KeyUnavailable("this data key needs a key share store (key_share_dir)")
        share = self.shares.get(row.share_id)
        return derive(unwrapped, share, row.household_id, row.generation)

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
        self._destroy_share_after_commit(session, row)
        row.wrapped = None
        row.destroyed_at = now or utcnow()
        session.flush()
        return True

    def replace(self, session: Session, household_id: str, *, now: datetime | None = None) -> int:
        """Destroy the current key and make the next generation; returns the new generation.

        The old wrapped key is overwritten in the row; its share is erased once the caller's
        transaction commits (until then the row in the database still names it: a transaction
        that fails, or a process killed before its commit, leaves the household as it was)."""
        row = session.get(DataKey, household_id)
        self.forget(household_id)
        when = now or utcnow()
        if row is None:
            row = DataKey(household_id=household_id, kek_version=self.kek.current_version())
            session.add(row)
            self._fill(row, household_id, 1)
        else:
            if row.wrapped is not None:
                self._destroy_share_after_commit(session, row)
            self._fill(row, household_id, (row.generation or 1) + 1)
            row.destroyed_at = when
        row.created_at, row.rotated_at = when, None
        session.flush()
        return row.generation

    def _destroy_share_after_commit(self, session: Session, row: DataKey) -> None:
        if row.share_id is not None and self.shares is not None:
            destroy_after_commit(session, self.shares, row.share_id)

    def rotate(self, session: Session, *, now: datetime | None = None) -> tuple[str, int]:
        """A new KEK version, then every live data key re-wrapped under it; blobs are untouched.

        Each row is written only if it still holds the key that was re-wrapped: a "delete
        everything" that replaced it meanwhile (PostgreSQL; SQLite writes one at a time) is read
        again and its new key re-wrapped, never overwritten by the destroyed one read before it.
        No row is locked while the KEK works (an HSM or Vault call per key).
        """
        version = self.kek.rotate()
        when = now or utcnow()
        live = select(DataKey.household_id, DataKey.wrapped).where(DataKey.wrapped.is_not(None))
        rows = session.execute(live.order_by(DataKey.household_id)).all()
        count = sum(self._rewrap(session, hh, wrapped, version, when) for hh, wrapped in rows)
        return version, count

    def _rewrap(
        self,
        session: Session,
        household_id: str,
        wrapped: bytes | None,
        version: str,
        when: datetime,
    ) -> int:
        """Re-wrap one household's key under ``version``; 1 if written, 0 if it was destroyed."""
        while wrapped is not None:
            written = session.execute(
                update(DataKey)
                .where(DataKey.household_id == household_id, DataKey.wrapped == wrapped)
                .values(
                    wrapped=self.kek.wrap(self.kek.unwrap(wrapped)),
                    kek_version=version,
                    rotated_at=when,
                )
                .execution_options(synchronize_session=False)
            )
            if written.rowcount:  # type: ignore[attr-defined]
                return 1
            wrapped = session.scalar(
                select(DataKey.wrapped).where(DataKey.household_id == household_id)
            )
        return 0


def destroy_after_commit(session: Session, shares: KeyShares, share_id: str) -> None:
    """Erase ``share_id`` once the session's transaction commits; never if it rolls back.

    Erased before the commit, a kill (SIGKILL, OOM, power loss) between the two left the row
    naming a share that was gone: nothing under that key opened again although nothing had been
    deleted. After the commit no row names it, so a kill before the erasure only leaves it to
    :func:`sweep_orphan_shares`.
    """
    session.info.setdefault(_SHARES_AFTER_COMMIT, {})[share_id] = shares


@event.listens_for(Session, "after_commit")
def _erase_committed(session: Session) -> None:
    pending: dict[str, KeyShares] = session.info.pop(_SHARES_AFTER_COMMIT, {})
    for share_id, shares in pending.items():
        try:
            shares.destroy(share_id)
        except Exception as exc:  # committed: the sweep erases what is left
            log.error("could not erase a replaced key share; the sweep will (%s)", safe_reason(exc))


@event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost one: rolled back (a commit popped the list)
        session.info.pop(_SHARES_AFTER_COMMIT, None)


def any_key_row(sessions: sessionmaker[Session]) -> bool:
    """Whether any household has a key row. Without one the database is empty, or being restored
    into (a restore copies its blobs in before the rows that name them commit, which can take
    longer than any grace): no blob in the store can be judged an orphan of it."""
    with sessions() as session:
        return session.scalar(select(DataKey.household_id).limit(1)) is not None


def sweep_orphan_shares(sessions: sessionmaker[Session], shares: KeyShares) -> list[str]:
    """Erase the key shares no live key row names any more; returns the households they were of.

    A share of a generation older than its household's row (replaced: "delete everything"), or
    the one a row names whose key was destroyed, is left only by a process killed between that
    commit and the erasure. Generations only grow, so no transaction in flight can come to name
    either. A share of a generation newer than the row is a replacement's: in flight (it holds
    the row, see :func:`_erase_if_abandoned`) or one that never committed (killed, rolled back),
    erased once no replacement holds the row. Never touched: a share of a household without a
    key row (an enrolment in flight, or a database being restored into an empty one: its rows are
    not there yet).
    """
    found = shares.names()
    if not found:
        return []
    rows = _key_rows(sessions, sorted({hh for _, hh, _, _ in found}))
    erased: list[str] = []
    for share_id, hh, generation, _ in found:
        row = rows.get(hh)
        if row is None:
            continue
        current, named, live = row
        if generation > current:
            gone = _erase_if_abandoned(sessions, shares, share_id, hh, generation)
        else:
            orphan = generation < current or (share_id == named and not live)
            gone = orphan and shares.destroy(share_id)
        if gone:
            erased.append(hh)
    return erased


def _key_rows(
    sessions: sessionmaker[Session], households: list[str]
) -> dict[str, tuple[int, str | None, bool]]:
    """Generation, named share and liveness of each household's key row, by household."""
    rows: dict[str, tuple[int, str | None, bool]] = {}
    with sessions() as session:
        for start in range(0, len(households), 500):
            chunk = households[start : start + 500]
            query = select(
                DataKey.household_id, DataKey.generation, DataKey.share_id, DataKey.wrapped
            ).where(DataKey.household_id.in_(chunk))
            for hh, generation, share_id, wrapped in session.execute(query):
                rows[hh] = (generation, share_id, wrapped is not None)
    return rows


def _erase_if_abandoned(
    sessions: sessionmaker[Session], shares: KeyShares, share_id: str, hh: str, generation: int
) -> bool:
    """Erase a share newer than its household's row if no replacement is writing it; True if so.

    A replacement holds the key row (``FOR UPDATE`` on PostgreSQL, the write lock a writer
    transaction takes at its start on SQLite) from before it writes the new share until its
    commit. Holding the row here, a row still older than the share means the replacement that
    wrote it will never commit. Left, it told a later restore that a "delete everything" had
    begun after its backup (``overheard.backup``), shutting a household nothing deleted. A row
    locked on PostgreSQL is skipped (a replacement in flight: the next sweep looks again); SQLite
    waits for the write lock, as every sweep's transaction does.
    """
    with sessions() as session, session.begin():
        row = session.get(DataKey, hh, with_for_update={"skip_locked": True})
        if row is None or row.generation >= generation:
            return False  # in flight, committed meanwhile, or the household is gone
        return shares.destroy(share_id)
