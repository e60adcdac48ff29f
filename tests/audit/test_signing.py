"""The signing key file and signed tree heads."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from threading import Barrier, Thread

import pytest

from overheard.auditlog import signing
from overheard.errors import ConfigError

AT = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)


def test_key_is_created_private_and_reused(tmp_path):
    path = tmp_path / "d" / signing.SIGNING_KEY_FILE
    first = signing.ensure_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing.ensure_signing_key(path).key_id == first.key_id
    assert "PRIVATE" not in repr(first) and "**" in repr(first)
    assert list(path.parent.iterdir()) == [path]


def test_racing_creators_agree_on_one_key(tmp_path):
    path = tmp_path / signing.SIGNING_KEY_FILE
    barrier, ids = Barrier(6), []

    def make() -> None:
        barrier.wait()
        ids.append(signing.ensure_signing_key(path).key_id)

    threads = [Thread(target=make) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1 and len(ids) == 6


def test_readable_key_or_missing_key_is_refused(tmp_path):
    path = tmp_path / signing.SIGNING_KEY_FILE
    with pytest.raises(ConfigError):
        signing.load_signing_key(path)
    signing.ensure_signing_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        signing.load_signing_key(path)


def test_tree_head_signature_covers_every_field(tmp_path):
    signer = signing.ensure_signing_key(tmp_path / "k")
    head = signing.sign_tree_head(signer, 42, b"\x07" * 32, AT)
    pub = signing.load_public_key(signing.public_key_pem(signer.public_key))
    assert head.signed_by(pub)
    assert signing.TreeHead.from_json(head.to_json()) == head
    for change in (
        {"tree_size": 41},
        {"root_hash": b"\x08" * 32},
        {"at": AT.replace(microsecond=123457)},
        {"signature": bytes(64)},
    ):
        forged = signing.TreeHead(**{**head.__dict__, **change})
        assert not forged.signed_by(pub), change
    other = signing.ensure_signing_key(tmp_path / "other").public_key
    assert not head.signed_by(other)


def test_public_key_loader_refuses_other_key_types():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigError):
        signing.load_public_key(pem)
    with pytest.raises(ConfigError):
        signing.load_public_key("not a key")
