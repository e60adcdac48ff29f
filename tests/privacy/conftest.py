"""Fixtures for the privacy pages: the account test helpers (clock, enrolled staff, clients)."""

from __future__ import annotations

from tests.accounts.conftest import clock, make_staff, new_client, web  # noqa: F401
