"""The account settings, with their defaults; read from ``Settings`` where it declares them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from ..config import settings_section

SESSION_IDLE_TIMEOUT_S = 1800.0
"""Seconds without a request after which a session ends."""
SESSION_ABSOLUTE_TIMEOUT_S = 43_200.0
"""Seconds after the password was accepted at which a session ends, however active."""
SESSION_PENDING_TIMEOUT_S = 600.0
"""Seconds a session may wait between the password and the second factor."""
SESSION_COOKIE_SECURE: Final = "auto"
"""``auto``: Secure except on plain http from a loopback address to a loopback host name;
``always``: Secure on every response."""
LOGIN_IP_MAX_ATTEMPTS = 30
"""Failed sign-in attempts one client address may make per ``LOGIN_IP_WINDOW_S``."""
LOGIN_IP_WINDOW_S = 300.0
"""Sliding window of the per-address limit, in seconds."""
LOGIN_ACCOUNT_MAX_ATTEMPTS = 10
"""Failed attempts against one account name from one address per ``LOGIN_ACCOUNT_WINDOW_S``."""
LOGIN_ACCOUNT_WINDOW_S = 900.0
"""Sliding window of the per-account limit, in seconds."""
LOCKOUT_THRESHOLD = 5
"""Consecutive wrong second-factor codes (after a right password) that lock an account."""
LOCKOUT_S = 900.0
"""Seconds an account stays locked."""
ENROLMENT_TOKEN_TTL_S = 259_200.0
"""Seconds a staff enrolment link stays valid (72 hours)."""
INVITE_TOKEN_TTL_S = 604_800.0
"""Seconds a customer invitation stays valid (7 days)."""
PASSWORD_MIN_LENGTH = 12
"""Shortest accepted password, in characters."""
LOGIN_MAX_CONCURRENT_CHECKS = 2
"""Password checks one web process runs at once (each takes ``ARGON2_MEMORY_KIB``)."""
LOGIN_QUEUE_TIMEOUT_S = 5.0
"""Seconds a sign-in waits for a free check before it is answered 503."""
PASSWORD_MIN_STRENGTH = 4
"""Lowest zxcvbn score (0–4) a new password must reach (4: over 10^10 guesses)."""
ARGON2_TIME_COST = 3
"""Argon2id iterations."""
ARGON2_MEMORY_KIB = 65_536
"""Argon2id memory per hash, in KiB (64 MiB)."""
ARGON2_PARALLELISM = 4
"""Argon2id lanes."""


@dataclass(frozen=True)
class AccountSettings:
    """Timeouts, limits and hashing costs of sign-in; every field may also be a ``Settings`` field."""

    session_idle_timeout_s: float = SESSION_IDLE_TIMEOUT_S
    session_absolute_timeout_s: float = SESSION_ABSOLUTE_TIMEOUT_S
    session_pending_timeout_s: float = SESSION_PENDING_TIMEOUT_S
    session_cookie_secure: Literal["auto", "always"] = SESSION_COOKIE_SECURE
    login_ip_max_attempts: int = LOGIN_IP_MAX_ATTEMPTS
    login_ip_window_s: float = LOGIN_IP_WINDOW_S
    login_account_max_attempts: int = LOGIN_ACCOUNT_MAX_ATTEMPTS
    login_account_window_s: float = LOGIN_ACCOUNT_WINDOW_S
    lockout_threshold: int = LOCKOUT_THRESHOLD
    lockout_s: float = LOCKOUT_S
    enrolment_token_ttl_s: float = ENROLMENT_TOKEN_TTL_S
    invite_token_ttl_s: float = INVITE_TOKEN_TTL_S
    password_min_length: int = PASSWORD_MIN_LENGTH
    password_min_strength: int = PASSWORD_MIN_STRENGTH
    login_max_concurrent_checks: int = LOGIN_MAX_CONCURRENT_CHECKS
    login_queue_timeout_s: float = LOGIN_QUEUE_TIMEOUT_S
    argon2_time_cost: int = ARGON2_TIME_COST
    argon2_memory_kib: int = ARGON2_MEMORY_KIB
    argon2_parallelism: int = ARGON2_PARALLELISM

    def __post_init__(self) -> None:
        if self.session_cookie_secure not in ("auto", "always"):
            raise ValueError("session_cookie_secure must be 'auto' or 'always'")

    @classmethod
    def from_settings(cls, settings: Any) -> AccountSettings:
        """Values ``settings`` declares, defaults for the rest."""
        return settings_section(cls, settings, "")
