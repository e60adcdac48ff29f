"""RFC 6962 Merkle tree hashing: leaf and node hashes, compact ranges, inclusion and consistency proofs.

Leaves are hashed as ``SHA-256(0x00 || data)`` and inner nodes as ``SHA-256(0x01 || left || right)``;
a tree of ``n`` leaves splits at the largest power of two below ``n`` (RFC 6962 §2.1). Proof builders
take a ``range_root(lo, hi)`` callable so the leaves can live in memory or be streamed from a database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_BYTES = 32
"""Length of every hash in the tree."""
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of a tree with no leaves."""

RangeRoot = Callable[[int, int], bytes]
"""``range_root(lo, hi)`` → MTH of leaves ``[lo, hi)``."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf's data."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node from its children's hashes."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n`` ≥ 2)."""
    if n < 2:
        raise ValueError("a split needs at least two leaves")
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The roots of the perfect subtrees covering leaves ``[0, size)``: O(log size) hashes."""

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError("a compact range holds one hash per set bit of its size")
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def from_frontier(cls, size: int, frontier: bytes) -> CompactRange:
        """A range from the concatenated subtree roots :attr:`frontier` produced."""
        hashes = [frontier[i : i + HASH_BYTES] for i in range(0, len(frontier), HASH_BYTES)]
        return cls(size, hashes)

    @property
    def size(self) -> int:
        """Number of leaves covered."""
        return self._size

    @property
    def frontier(self) -> bytes:
        """The subtree roots, largest first, concatenated (32 bytes each)."""
        return b"".join(self._hashes)

    def append(self, data: bytes) -> None:
        """Add one leaf by its data."""
        self.append_hash(leaf_hash(data))

    def append_hash(self, hashed_leaf: bytes) -> None:
        """Add one leaf by its leaf hash; merges equal-sized subtrees (one per trailing 1 bit)."""
        node, size = hashed_leaf, self._size
        while size & 1:
            node = node_hash(self._hashes.pop(), node)
            size >>= 1
        self._hashes.append(node)
        self._size += 1

    def root(self) -> bytes:
        """MTH of the leaves so far (RFC 6962 §2.1)."""
        if not self._hashes:
            return EMPTY_ROOT
        node = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            node = node_hash(left, node)
        return node


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of leaf data held in memory."""
    compact = CompactRange()
    for data in leaves:
        compact.append(data)
    return compact.root()


def memory_range_root(leaves: Sequence[bytes]) -> RangeRoot:
    """A ``range_root`` over leaf data held in memory."""
    return lambda lo, hi: root_of(leaves[lo:hi])


def inclusion_path(index: int, size: int, range_root: RangeRoot) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 §2.1.1, leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(range_root(lo + k, hi))
            hi = lo + k
        else:
            path.append(range_root(lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_path(old_size: int, new_size: int, range_root: RangeRoot) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 6962 §2.1.2."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size}")
    path: list[bytes] = []
    m, lo, hi, whole = old_size, 0, new_size, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            path.append(range_root(lo + k, hi))
            hi = lo + k
        else:
            path.append(range_root(lo, lo + k))
            m, lo, whole = m - k, lo + k, False
    if not whole:
        path.append(range_root(lo, hi))
    path.reverse()
    return path


def root_from_inclusion(index: int, size: int, hashed_leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root an inclusion path leads to (RFC 9162 §2.1.3.2); ValueError if it cannot fit."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    fn, sn, node = index, size - 1, hashed_leaf
    for sibling in path:
        if sn == 0:
            raise ValueError("inclusion path too long")
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = node_hash(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("inclusion path too short")
    return node


def verify_inclusion_path(
    index: int, size: int, hashed_leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """True when ``path`` proves leaf ``index`` (by its leaf hash) is in the tree with ``root``."""
    try:
        return root_from_inclusion(index, size, hashed_leaf, path) == root
    except ValueError:
        return False


def verify_consistency_path(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """True when ``path`` proves the tree ``old_root`` is a prefix of ``new_root`` (RFC 9162 §2.1.4.2)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    proof = list(path)
    if old_size & (old_size - 1) == 0:
        proof.insert(0, old_root)
    if not proof:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root
