"""Fixtures for the workbench: consenting households with real clips sampled into the queue,
enrolled staff signed in on clients of their own (the account fixtures' clock drives everything)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from overheard.config import Settings
from overheard.db import transaction
from overheard.households import Device
from overheard.identity.service import enrol_household
from overheard.platform import Platform, initialise
from overheard.recordings.ingest import ingest
from overheard.recordings.models import Recording, Status
from overheard.review.consent import set_human_review
from overheard.review.policy import ReviewPolicy
from overheard.review.sampler import sample_after_transcription
from tests.accounts.conftest import (  # noqa: F401 (fixtures)
    START,
    Clock,
    StaffLogin,
    clock,
    make_client,
    make_staff,
    sign_in,
    web,
)
from tests.conftest import tone_wav
from tests.privacy._world import prepare

SAMPLE_ALL = ReviewPolicy(sample_rate=1.0, household_cap=10_000, double_share=0.0, gold_share=0.0)
"""Every transcribed clip goes to review; no second passes or gold unless a test asks."""
AUDIO_URL_RE = re.compile(r'data-audio-url="([^"]+)"')
LEASE_RE = re.compile(r'name="lease_id" value="([^"]+)"')
PSEUDONYM_RE = re.compile(r'id="clip-pseudonym">([^<]+)<')
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CAPTURED = START - timedelta(days=40, hours=5)
"""When the test clips were captured: a date no reviewer's page may show."""


ADA = {"name": "Ada Lovelace", "account": "ACC-77123", "email": "ada@example.org", "serial": "SN-99881"}
"""The identity of the browser tests' household: none of it may reach a staff page."""


@contextmanager
def consenting_household(tmp_path: Path) -> Iterator[tuple[Platform, Settings, Device]]:
    """An initialised SQLite platform under ``tmp_path`` whose one household (``ADA``) opted in to
    review; yields the open platform, its settings and the household's device."""
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'o.db'}").resolved()
    initialise(settings)
    plat = Platform.open(settings)
    try:
        with transaction(plat.sessions) as s:
            hh = enrol_household(s, plat.keyring, plat.secrets, **ADA)
            set_human_review(s, hh.household_id, True, actor="customer", now=CAPTURED)
        with plat.sessions() as s:
            device = s.get(Device, hh.device_id)
        assert device is not None
        yield plat, settings, device
    finally:
        plat.close()


@dataclass(frozen=True)
class World:
    """A consenting household, its device and its clips' recording ids (what must never leak)."""

    household_id: str
    device_id: str
    account: str
    email: str
    serial: str
    recording_ids: list[str]


@pytest.fixture
def make_world(platform, make_household) -> Callable[..., World]:  # type: ignore[no-untyped-def]
    """Factory: ``n`` clips of one consenting household, ingested, transcribed and sampled."""

    def make(n: int = 3, policy: ReviewPolicy = SAMPLE_ALL, texts: list[str] | None = None) -> World:
        tag = f"{random.randrange(10**8):08d}"
        account, email, serial = f"ACC-{tag}", f"owner{tag}@example.org", f"SN-{tag}"
        hh = make_household(account=account, email=email, serial=serial)
        with transaction(platform.sessions) as s:
            set_human_review(s, hh.household_id, True, actor="customer", now=CAPTURED)
            device = s.get(Device, hh.device_id)
        ids = []
        for i in range(n):
            text = texts[i] if texts else f"what is the weather in paris number {i}"
            ids.append(add_sampled_clip(platform, device, text, policy, seconds=0.6 + 0.1 * i))
        return World(hh.household_id, hh.device_id, account, email, serial, ids)

    return make


def add_sampled_clip(
    platform, device: Device, text: str, policy: ReviewPolicy, *, seconds: float = 0.6, wav: bytes | None = None
) -> str:  # type: ignore[no-untyped-def]
    """Ingest a clip, mark it transcribed with a sealed hypothesis, run the real sampler on it."""
    rec = ingest(platform, device, wav or tone_wav(seconds), captured_at=CAPTURED, now=CAPTURED).recording
    with transaction(platform.sessions) as s:
        row = s.get(Recording, rec.id)
        assert row is not None
        row.status, row.processed_at, row.asr_confidence = Status.TRANSCRIBED.value, CAPTURED, 0.9
        hypothesis = json.dumps({"text": text, "confidence": 0.9})
        platform.gate.seal_text(s, row, "hypothesis", hypothesis)
        task = sample_after_transcription(s, row, policy, random.Random(7), START)
        assert task is not None
    prepare(platform, rec.id)
    return rec.id


@pytest.fixture
def staff_client(platform, clock, make_staff) -> Iterator[Callable[..., tuple[TestClient, StaffLogin]]]:  # type: ignore[no-untyped-def]  # noqa: F811
    """Factory: a new staff member of ``role`` signed in on a client (browser) of their own."""
    made: list[TestClient] = []

    def make(role: str = "annotator") -> tuple[TestClient, StaffLogin]:
        client = make_client(platform, clock, address=f"192.0.2.{len(made) + 10}")
        client.__enter__()
        made.append(client)
        user = make_staff(role)
        sign_in(client, user, clock)
        return client, user

    yield make
    for client in made:
        client.__exit__(None, None, None)


def api_csrf(client: TestClient) -> dict[str, str]:
    """Headers with the session's CSRF token, for the JSON API."""
    token = client.get("/review/api/session").json()["csrf_token"]
    return {"X-CSRF-Token": token}


def page_fields(html: str) -> dict[str, str]:
    """Lease id, clip pseudonym, audio URL and CSRF token of a task page."""
    return {
        "lease_id": LEASE_RE.search(html).group(1),  # type: ignore[union-attr]
        "pseudonym": PSEUDONYM_RE.search(html).group(1),  # type: ignore[union-attr]
        "audio_url": AUDIO_URL_RE.search(html).group(1),  # type: ignore[union-attr]
        "csrf_token": CSRF_RE.search(html).group(1),  # type: ignore[union-attr]
    }


__all__ = ["Clock", "World", "add_sampled_clip", "api_csrf", "page_fields"]
