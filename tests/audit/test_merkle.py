"""RFC 6962 hashing and proofs: the CT reference vectors, and a plain recursive reading of the RFC."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overheard.auditlog import merkle

VECTORS = json.loads((Path(__file__).with_name("ct_vectors.json")).read_text())
LEAVES = [bytes.fromhex(h) for h in VECTORS["leaves"]]


def h(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr)


# --- an independent, literal transcription of RFC 6962 §2.1 (recursion over lists) -------------


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# --- reference vectors ------------------------------------------------------------------------


def test_empty_root():
    assert merkle.root_of([]) == h(VECTORS["empty_root"]) == merkle.EMPTY_ROOT


@pytest.mark.parametrize("case", VECTORS["hasher"])
def test_leaf_and_node_hashes(case):
    if case["kind"] == "leaf":
        got = merkle.leaf_hash(h(case["data"]))
    else:
        got = merkle.node_hash(h(case["left"]), h(case["right"]))
    assert got.hex() == case["want"]


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_reference(size):
    assert merkle.root_of(LEAVES[:size]).hex() == VECTORS["roots"][size - 1]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}-of-{c['size']}")
def test_inclusion_paths_match_reference(case):
    leaves = LEAVES[: case["size"]]
    path = merkle.inclusion_path(case["index"], case["size"], merkle.memory_range_root(leaves))
    assert [p.hex() for p in path] == case["path"]
    root = h(VECTORS["roots"][case["size"] - 1])
    leaf = merkle.leaf_hash(leaves[case["index"]])
    assert merkle.verify_inclusion_path(case["index"], case["size"], leaf, path, root)


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['old']}-to-{c['new']}")
def test_consistency_paths_match_reference(case):
    path = merkle.consistency_path(case["old"], case["new"], merkle.memory_range_root(LEAVES))
    assert [p.hex() for p in path] == case["path"]
    old_root, new_root = (h(VECTORS["roots"][n - 1]) for n in (case["old"], case["new"]))
    assert merkle.verify_consistency_path(case["old"], case["new"], old_root, new_root, path)


@pytest.mark.parametrize("size, root", VECTORS["compact_range_golden"]["roots_base64"].items())
def test_compact_range_golden_roots(size, root):
    compact = merkle.CompactRange()
    for i in range(int(size)):
        compact.append(i.to_bytes(2, "little"))
    assert compact.root() == base64.b64decode(root)
    again = merkle.CompactRange.from_frontier(compact.size, compact.frontier)
    assert again.root() == compact.root()


# --- against the recursive transcription, random shapes ----------------------------------------

sizes = st.integers(min_value=1, max_value=70)


@given(size=sizes, data=st.data())
def test_inclusion_agrees_with_rfc_recursion(size, data):
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    index = data.draw(st.integers(0, size - 1))
    path = merkle.inclusion_path(index, size, merkle.memory_range_root(leaves))
    assert path == ref_path(index, leaves)
    root = ref_mth(leaves)
    leaf = merkle.leaf_hash(leaves[index])
    assert merkle.root_of(leaves) == root
    assert merkle.verify_inclusion_path(index, size, leaf, path, root)
    assert not merkle.verify_inclusion_path(index, size, merkle.leaf_hash(b"other"), path, root)
    if path:
        assert not merkle.verify_inclusion_path(index, size, leaf, path[:-1], root)
        assert not merkle.verify_inclusion_path(index, size, leaf, [*path, root], root)
        flipped = [bytes([path[0][0] ^ 8]) + path[0][1:], *path[1:]]
        assert not merkle.verify_inclusion_path(index, size, leaf, flipped, root)
    if size > 1:
        other = (index + 1) % size
        assert not merkle.verify_inclusion_path(other, size, leaf, path, root)


@given(new=sizes, data=st.data())
def test_consistency_agrees_with_rfc_recursion(new, data):
    leaves = [i.to_bytes(4, "big") for i in range(new)]
    old = data.draw(st.integers(1, new))
    path = merkle.consistency_path(old, new, merkle.memory_range_root(leaves))
    assert path == ref_subproof(old, leaves, True)
    old_root, new_root = ref_mth(leaves[:old]), ref_mth(leaves)
    assert merkle.verify_consistency_path(old, new, old_root, new_root, path)
    forged_old = ref_mth([b"x", *leaves[1:old]])
    assert not merkle.verify_consistency_path(old, new, forged_old, new_root, path)
    if path:
        assert not merkle.verify_consistency_path(old, new, old_root, new_root, path[:-1])
        assert not merkle.verify_consistency_path(old, new, old_root, new_root, [*path, new_root])


def test_proof_arguments_out_of_range_are_refused():
    rr = merkle.memory_range_root(LEAVES)
    with pytest.raises(ValueError):
        merkle.inclusion_path(8, 8, rr)
    with pytest.raises(ValueError):
        merkle.consistency_path(0, 8, rr)
    assert not merkle.verify_inclusion_path(0, 0, merkle.EMPTY_ROOT, [], merkle.EMPTY_ROOT)
    assert not merkle.verify_consistency_path(5, 4, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
