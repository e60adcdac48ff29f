"""Fixtures for the learning loop: consenting homes, reviewed clips made through the real review flow."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from overheard.db import transaction
from overheard.learn import register
from overheard.learn.cli import evaluate_cmd, export_cmd, models_app, train_app
from overheard.learn.models import SplitName
from overheard.learn.split import pin_split
from overheard.recordings.models import Recording, Status
from overheard.review.annotations import submit
from overheard.review.content import AnnotationInput
from overheard.review.policy import Flag, ReviewPolicy
from overheard.review.queue import claim
from overheard.review.sampler import sample_after_transcription
from tests.review.conftest import T0, Home, make_home  # noqa: F401 (a shared fixture)

POLICY = ReviewPolicy(sample_rate=1.0, double_share=0.0, gold_share=0.0, household_cap=10_000)
LOW_CONFIDENCE = ReviewPolicy(
    sample_rate=0.0,
    low_confidence_rate=1.0,
    low_confidence_below=0.5,
    double_share=0.0,
    gold_share=0.0,
    household_cap=10_000,
)
"""Samples exactly the clips under 0.5 confidence, with reason ``low_confidence``."""


@pytest.fixture(autouse=True)
def _hooks() -> None:
    register()


def tone(seconds: float = 0.5, freq_hz: float = 300.0) -> np.ndarray:
    """A short int16 tone (audio for export tests; nobody decodes it)."""
    t = np.arange(int(16000 * seconds)) / 16000
    return (8000 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


@pytest.fixture
def make_reviewed(platform) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    """Factory: a transcribed recording with sealed audio, sampled and annotated; returns its id."""
    rng = random.Random(5)
    counter = iter(range(1, 100_000))

    def make(
        home: Home,
        text: str,
        intent: str | None,
        *,
        pcm: np.ndarray | None = None,
        flags: frozenset[Flag] = frozenset(),
        split: SplitName | None = SplitName.TRAIN,
        confidence: float = 0.9,
    ) -> str:
        audio = tone() if pcm is None else pcm
        at = T0 + timedelta(minutes=next(counter))
        rec = Recording(
            id=uuid.uuid4().hex,
            household_id=home.household_id,
            device_id=home.device_id,
            captured_at=at,
            received_at=at,
            duration_s=audio.size / 16000,
            source_rate_hz=16000,
            source_format="WAV/PCM_16",
            status=Status.TRANSCRIBED.value,
            asr_confidence=confidence,
            processed_at=at,
        )
        with transaction(platform.sessions) as s:
            s.add(rec)
            s.flush()
            rec.audio_blob = platform.gate.seal_audio(s, rec, audio.tobytes())
            if split is not None:
                pin_split(s, rec.id, split, now=at)
            policy = LOW_CONFIDENCE if confidence < LOW_CONFIDENCE.low_confidence_below else POLICY
            assert sample_after_transcription(s, rec, policy, rng, at) is not None
            lease = claim(s, "R-tester", POLICY, rng=rng, now=at)
            assert lease is not None
            answer = AnnotationInput(transcript=text, intent=intent, flags=flags)
            submit(s, platform.gate, lease.lease_id, "R-tester", answer, POLICY, now=at)
        return rec.id

    return make


@pytest.fixture
def make_staff(platform) -> Callable[[str], str]:  # type: ignore[no-untyped-def]
    """Factory: a staff user with ``role``; returns their pseudonym."""
    from overheard.accounts.service import create_staff

    def make(role: str) -> str:
        with transaction(platform.sessions) as s:
            staff, _ = create_staff(s, name=f"{role} one", role=role)
            return staff.pseudonym

    return make


@pytest.fixture
def make_lead_login(platform):  # type: ignore[no-untyped-def]
    """Factory: an enrolled lead, or staff of ``role`` (password + confirmed authenticator), on the
    real clock."""
    import pyotp

    from overheard.accounts import service
    from overheard.accounts.secrets import AccountKeys
    from overheard.accounts.service import staff_principal
    from overheard.accounts.settings import AccountSettings
    from overheard.db import utcnow
    from tests.accounts.conftest import PASSWORD, StaffLogin

    def make(role: str = "lead") -> StaffLogin:
        earlier = utcnow() - timedelta(seconds=90)
        keys = AccountKeys.from_secrets(platform.secrets)
        with transaction(platform.sessions) as db:
            staff, _ = service.create_staff(db, name=f"Lena {role}", role=role, now=earlier)
            settings = AccountSettings.from_settings(platform.settings)
            service.choose_staff_password(db, staff, PASSWORD, settings=settings)
            secret = service.pending_totp_secret(db, staff, keys)
            code = pyotp.TOTP(secret).at(earlier)
            assert service.confirm_totp(db, staff, code, keys=keys, who=staff_principal(staff),
                                        now=earlier)
        return StaffLogin(staff.id, staff.pseudonym, role, PASSWORD, secret)

    return make


@pytest.fixture(scope="module")
def speak():  # type: ignore[no-untyped-def]
    """Text to int16 speech (espeak-ng, British English); skips without espeak-ng."""
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return lambda text: synthesise(text, "en-gb")


@pytest.fixture
def cli(settings, monkeypatch):  # type: ignore[no-untyped-def]
    """Runs the learning commands (export, train, models, evaluate) on the test platform's data."""
    monkeypatch.setenv("OVERHEARD_DATABASE_URL", settings.database_url)
    app = typer.Typer()
    app.command("export")(export_cmd)
    app.add_typer(train_app, name="train")
    app.add_typer(models_app, name="models")
    app.command("evaluate")(evaluate_cmd)
    runner = CliRunner()
    data_dir = str(settings.data_dir)

    def run(*args: str, input: str | None = None, exit_code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--data-dir", data_dir], input=input)
        assert result.exit_code == exit_code, (result.output, result.exception)
        return result.output

    return run
