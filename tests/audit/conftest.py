"""Fixtures for the audit log: a signing key in the data dir and a filler of events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
"""A fixed start time, so event times are deterministic."""


@pytest.fixture
def signer(platform):  # type: ignore[no-untyped-def]
    """The platform's checkpoint signing key (created in its data dir)."""
    from overheard.auditlog import SIGNING_KEY_FILE, ensure_signing_key

    return ensure_signing_key(platform.settings.data_dir / SIGNING_KEY_FILE)


@pytest.fixture
def fill(platform) -> Callable[..., list[int]]:  # type: ignore[no-untyped-def]
    """Factory: append ``n`` events, one transaction each; returns their seqs."""
    from overheard import audit
    from overheard.db import transaction

    def add(n: int, action: str = "test.event") -> list[int]:
        seqs = []
        for i in range(n):
            with transaction(platform.sessions) as session:
                event = audit.append(
                    session,
                    actor="tester",
                    action=action,
                    subject=f"rec{i:04d}",
                    household_id="hh-test",
                    details={"i": i},
                    now=T0 + timedelta(seconds=i),
                )
                seqs.append(event.seq)
        return seqs

    return add
