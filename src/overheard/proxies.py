"""Whose forwarding headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) the app believes."""

from __future__ import annotations

from typing import Any


def trusted_proxies(settings: Any) -> list[str]:
    """The configured proxy addresses whose forwarding headers are believed (may be empty)."""
    return [part.strip() for part in settings.forwarded_allow_ips.split(",") if part.strip()]
