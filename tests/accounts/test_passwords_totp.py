"""Password policy and hashing, TOTP windows and replay, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from overheard.accounts import passwords, totp
from overheard.accounts.secrets import AccountKeys, derive
from overheard.accounts.settings import AccountSettings
from overheard.errors import DecryptionFailed
from overheard.server_secrets import SecretBytes, ServerSecrets

CHEAP = AccountSettings(argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1)
NOW = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("violet harbour lantern", True),
        ("x7#Kq!92mZp@4", True),
        ("short", False),
        ("elevenchars", False),
        ("password1234", False),
        ("Password!2026", False),
        ("123456789012345", False),
        ("abcabcabcabc", False),
        ("zzzzzzzzzzzzzz", False),
        ("Grace Hopper!!", False),
        ("x" * 1025, False),
        ("Summer2024!!", False),  # a word, a year and symbols: guessed in under 10^9 tries
        ("Winter2025??", False),
        ("Hopper1906Grace", False),  # own name and birth year
        ("Tr0ub4dor&3xyz", True),
        ("ochre tapir velvet", True),
    ],
)
def test_policy(password, ok):
    if ok:
        passwords.check_policy(CHEAP, password, personal=("Grace Hopper",))
        return
    with pytest.raises(passwords.WeakPassword):
        passwords.check_policy(CHEAP, password, personal=("Grace Hopper",))


def test_strength_is_bounded_in_time_for_long_passwords():
    assert passwords.strength("q7" * 500) == passwords.strength(("q7" * 500)[:64])


def test_hash_verify_and_rehash():
    stored = passwords.hash_password(CHEAP, "violet harbour lantern")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(CHEAP, stored, "violet harbour lantern")
    assert not passwords.verify_password(CHEAP, stored, "violet harbour lanterN")
    assert not passwords.verify_password(CHEAP, None, "anything at all")
    assert not passwords.needs_rehash(CHEAP, stored)
    stronger = AccountSettings(argon2_time_cost=2, argon2_memory_kib=8192, argon2_parallelism=1)
    assert passwords.needs_rehash(stronger, stored)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def test_codes_within_one_step_either_side_are_accepted():
    secret = totp.new_secret()
    now_step = totp.step_at(NOW)
    for offset in (-1, 0, 1):
        when = NOW + timedelta(seconds=offset * totp.STEP_S)
        assert (
            totp.matching_step(secret, code_at(secret, when), now=NOW, after_step=0)
            == now_step + offset
        )
    far = NOW + timedelta(seconds=2 * totp.STEP_S)
    assert totp.matching_step(secret, code_at(secret, far), now=NOW, after_step=0) is None


def test_used_steps_are_refused():
    secret = totp.new_secret()
    code = code_at(secret, NOW)
    step = totp.matching_step(secret, code, now=NOW, after_step=0)
    assert step is not None
    assert totp.matching_step(secret, code, now=NOW, after_step=step) is None
    earlier = code_at(secret, NOW - timedelta(seconds=totp.STEP_S))
    assert totp.matching_step(secret, earlier, now=NOW, after_step=step) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"])
def test_malformed_codes_are_refused(code):
    assert totp.matching_step(totp.new_secret(), code, now=NOW, after_step=0) is None


def test_sealed_secret_is_bound_to_its_account():
    keys = AccountKeys.from_secrets(ServerSecrets({"session": SecretBytes(b"k" * 32)}))
    sealed = totp.seal_secret(keys, "JBSWY3DPEHPK3PXP", account_id="st_1")
    assert totp.open_secret(keys, sealed, account_id="st_1") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(DecryptionFailed):
        totp.open_secret(keys, sealed, account_id="st_2")
    assert "k" * 8 not in repr(keys)


def test_derived_keys_differ_by_purpose():
    root = b"r" * 32
    assert len({derive(root, b"a"), derive(root, b"b"), root}) == 3
