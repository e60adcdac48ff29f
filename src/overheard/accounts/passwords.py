"""Password hashing (argon2id, rehashed when the parameters change) and the password policy.

The policy refuses short passwords, a short list of the most common ones, the account's own names,
and anything the zxcvbn strength estimator (Dropbox's model of how crackers guess: dictionaries,
names, keyboard walks, dates, l33t, repeats) scores below ``password_min_strength``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import BadRequest
from .settings import AccountSettings

PASSWORD_MAX_LENGTH = 1024
"""Longest accepted password, in characters (hashing cost must stay bounded)."""

# Passwords of twelve characters or more that lead every published breach list, and the words
# most of the rest are made of; a password that is one of these plus digits or symbols is refused.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789000",
        "111111111111",
        "000000000000",
        "123123123123",
        "qwertyuiopas",
        "qwertyuiop123",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "qazwsxedcrfv",
        "zaq12wsxcde3",
        "asdfghjkl123",
        "password1234",
        "password123!",
        "passw0rd1234",
        "p@ssw0rd1234",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "administrator",
        "correcthorsebatterystaple",
        "trustno1trustno1",
        "changeme1234",
        "abcdefghijkl",
        "abc123abc123",
        "football1234",
        "baseball1234",
        "superman1234",
        "whatever1234",
        "sunshine1234",
        "princess1234",
        "starwars1234",
        "michael12345",
        "jennifer1234",
        "mustang12345",
        "shadow123456",
        "monkey123456",
        "dragon123456",
        "master123456",
        "qwerty123456",
        "qwerty12345678",
        "1234qwerasdf",
        "q1w2e3r4t5y6",
        "passwordpassword",
        "qwertyqwerty",
        "aaaaaaaaaaaa",
        "iloveyouiloveyou",
    }
)
COMMON_WORDS = frozenset(
    {
        "password",
        "passw0rd",
        "p@ssw0rd",
        "qwerty",
        "qwertyuiop",
        "letmein",
        "welcome",
        "iloveyou",
        "admin",
        "administrator",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "sunshine",
        "princess",
        "starwars",
        "superman",
        "whatever",
        "shadow",
        "master",
        "trustno1",
        "changeme",
        "secret",
        "overheard",
        "alexa",
        "abc",
        "abcdef",
        "login",
    }
)
STRENGTH_CHARS = 64
"""Characters of a password the strength estimator looks at."""
MIN_PERSONAL_LENGTH = 4
"""Own names shorter than this many characters are not looked for inside a password."""
MIN_EXTRA_CHARS = 6
"""Characters a password must add to an own name for the name not to count against it."""
_TRIM = re.compile(r"^[\W\d_]+|[\W\d_]+$")


class WeakPassword(BadRequest):
    """A password the policy refuses; the message says why."""

    status = 422
    code = "weak_password"


def hasher(settings: AccountSettings) -> PasswordHasher:
    """An argon2id hasher with the configured costs."""
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        type=Type.ID,
    )


def hash_password(settings: AccountSettings, password: str) -> str:
    """The argon2id hash string of ``password`` (salt and parameters included)."""
    return hasher(settings).hash(password)


def verify_password(settings: AccountSettings, stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; with no hash a dummy one is checked (same time)."""
    ph = hasher(settings)
    try:
        return ph.verify(stored or _dummy_hash(settings), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(settings: AccountSettings, stored: str) -> bool:
    """True when ``stored`` was made with other parameters than the configured ones."""
    return hasher(settings).check_needs_rehash(stored)


def _dummy_hash(settings: AccountSettings) -> str:
    return _dummy_for(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )


@lru_cache(maxsize=8)
def _dummy_for(time_cost: int, memory_kib: int, parallelism: int) -> str:
    # Checked when an account has no hash, so an unknown name costs as much as a wrong password.
    return PasswordHasher(time_cost, memory_kib, parallelism, type=Type.ID).hash(
        "no one's password"
    )


def check_policy(
    settings: AccountSettings, password: str, *, personal: tuple[str, ...] = ()
) -> None:
    """Refuse a password that is short, common, or made of the account's own names."""
    if len(password) < settings.password_min_length:
        raise WeakPassword(f"use at least {settings.password_min_length} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise WeakPassword(f"use at most {PASSWORD_MAX_LENGTH} characters")
    if is_common(password, personal=personal):
        raise WeakPassword("this password is too easy to guess; choose another")
    if strength(password, personal=personal) < settings.password_min_strength:
        raise WeakPassword(
            "this password follows a pattern that is quick to guess (a word, a year, symbols "
            "at the end); a few unrelated words make a stronger one"
        )


def strength(password: str, *, personal: tuple[str, ...] = ()) -> int:
    """zxcvbn's score, 0 (guessed at once) to 4 (over 10^10 guesses), with own names known to it.

    Only the first ``STRENGTH_CHARS`` characters are scored: zxcvbn's time grows with length,
    and a longer password is not weaker for what follows.
    """
    from zxcvbn import zxcvbn

    return int(zxcvbn(password[:STRENGTH_CHARS], user_inputs=list(personal))["score"])


def is_common(password: str, *, personal: tuple[str, ...] = ()) -> bool:
    """True for a listed password, a common word or own name dressed up, or a repeated pattern."""
    lowered = password.lower()
    core = _TRIM.sub("", lowered)
    names = {p.lower() for p in personal if len(p) >= MIN_PERSONAL_LENGTH}
    if lowered in COMMON_PASSWORDS or not core or core in COMMON_WORDS | names:
        return True
    if len(set(lowered)) <= 2 or _is_repetition(lowered):
        return True
    return any(name in lowered and len(lowered) - len(name) < MIN_EXTRA_CHARS for name in names)


def _is_repetition(text: str) -> bool:
    """True when ``text`` is a shorter string repeated, such as ``abcabcabcabc``."""
    size = len(text)
    return any(text == text[:n] * (size // n) for n in range(1, size // 2 + 1) if size % n == 0)
