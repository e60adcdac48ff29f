"""Fixtures for the dashboard: key shares on, a signed-in owner, recordings with sealed texts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from overheard.db import transaction
from overheard.households import Device
from overheard.jobs import Job, JobState
from overheard.keys import KeyRing, KeyShares
from overheard.recordings.gate import ContentGate
from overheard.recordings.ingest import PROCESS_JOB, ingest
from overheard.recordings.models import Recording, Status
from overheard.review import hooks as review_hooks
from tests.accounts.conftest import START, Clock, invite, make_client, submit
from tests.conftest import tone_wav

PASSWORD = "violet harbour lantern 42"


@pytest.fixture(autouse=True)
def _review_hook() -> None:
    review_hooks.register()


@pytest.fixture
def platform(platform):  # type: ignore[no-untyped-def]
    """The platform with key shares kept in ``data_dir/key-shares`` (outside the database)."""
    platform.keyring = KeyRing(platform.keyring.kek, KeyShares(platform.settings.data_dir / "key-shares"))
    platform.gate = ContentGate(platform.keyring, platform.blobs)
    return platform


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass(frozen=True)
class Owner:
    """A signed-in household owner and their household."""

    client: TestClient
    household_id: str
    device_id: str
    account_id: str


def sign_up(platform, clock: Clock, household_id: str, address: str = "192.0.2.1") -> TestClient:
    client = make_client(platform, clock, address=address)
    client.__enter__()
    token = invite(platform, household_id)
    done = submit(client, f"/invite/{token}", password=PASSWORD, password_confirm=PASSWORD)
    assert done.status_code == 303, done.text
    return client


@pytest.fixture
def make_owner(platform, clock, make_household) -> Iterator[Callable[[], Owner]]:
    """Factory: an enrolled household whose owner is signed in on their own client."""
    from sqlalchemy import select

    from overheard.accounts.models import CustomerAccount

    made: list[TestClient] = []

    def make() -> Owner:
        hh = make_household()
        client = sign_up(platform, clock, hh.household_id, address=f"192.0.2.{len(made) + 1}")
        made.append(client)
        with platform.sessions() as s:
            account = s.scalars(
                select(CustomerAccount).where(CustomerAccount.household_id == hh.household_id)
            ).one()
        return Owner(client, hh.household_id, hh.device_id, account.id)

    yield make
    for client in made:
        client.__exit__(None, None, None)


@pytest.fixture
def owner(make_owner) -> Owner:
    return make_owner()


def add_recording(
    platform,
    device_id: str,
    text: str,
    *,
    intent: str = "weather",
    at: datetime | None = None,
    seconds: float = 0.3,
) -> Recording:
    """A stored recording (real ingest of a short tone) with a sealed hypothesis and intent, as
    the pipeline leaves it (its job done)."""
    with platform.sessions() as s:
        device = s.get(Device, device_id)
    when = at or START - timedelta(hours=1)
    rec = ingest(platform, device, tone_wav(seconds), captured_at=when, now=when).recording
    with transaction(platform.sessions) as s:
        row = s.get(Recording, rec.id)
        row.status = Status.TRANSCRIBED.value
        row.processed_at = when
        s.execute(
            update(Job)
            .where(Job.subject == rec.id, Job.kind == PROCESS_JOB)
            .values(state=JobState.DONE.value)
        )
        platform.gate.seal_text(s, row, "hypothesis", json.dumps({"text": text, "confidence": 0.9}))
        platform.gate.seal_text(s, row, "intent", json.dumps({"intent": intent, "confidence": 0.9}))
    return row


def unique_phrase(i: int) -> str:
    """A transcript no other test or household could contain by chance."""
    return f"zebra quartz {i:04d} {uuid.uuid4().hex[:12]}"
