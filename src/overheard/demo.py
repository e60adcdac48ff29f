"""The demo world: a few households whose devices have heard a few dozen realistic requests.

Speech is synthesised with espeak-ng in several voices: requests that start with the wake word,
accidental wake-ups (speech without it), noisy low-confidence requests and a privacy command.
Seeding is idempotent: a marker file in the data dir records that it was done.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from .accounts.service import create_staff, invite_customer
from .db import transaction, utcnow
from .demo_reviews import seed_reviews
from .households import Device
from .identity.service import enrol_household
from .platform import Platform
from .recordings.ingest import ingest
from .review.consent import set_human_review
from .speech.audio import SAMPLE_RATE_HZ, to_wav_bytes

MARKER = "demo.json"
WAKE_VOICES = ("en-gb", "en+f4", "en-gb-x-rp", "en+m2", "en-gb-scotland")
"""espeak-ng voices whose "Alexa" the bundled wake-word model recognises."""
ACCIDENTAL_SPEECH = (
    "I told you we should have left before the traffic got bad",
    "can you pass me the salt please",
    "she said the meeting moved to thursday afternoon",
    "no I think the blue one looks better on you",
    "did anyone remember to feed the cat this morning",
    "we need to talk about the holiday plans tonight",
)
NOISY_SNR_DB = 3.0
"""Signal-to-noise ratio of the demo's deliberately hard clips."""


@dataclass(frozen=True)
class DemoHousehold:
    """A demo customer."""

    name: str
    email: str
    human_review: bool
    requests: int


HOUSEHOLDS = (
    DemoHousehold("Ada", "ada@demo.overheard.test", True, 14),
    DemoHousehold("Grace", "grace@demo.overheard.test", True, 12),
    DemoHousehold("Alan", "alan@demo.overheard.test", False, 8),
)


def seed_requests() -> list[str]:
    """The texts of the project's seed requests (no privacy commands)."""
    path = resources.files("overheard") / "data" / "seed_requests.tsv"
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    return [r[0] for r in rows if r and not r[1].startswith("delete_")]


def espeak_available() -> bool:
    """True when the espeak-ng binary is on PATH."""
    return shutil.which("espeak-ng") is not None


def synthesise(text: str, voice: str, *, speed_wpm: int = 150) -> np.ndarray:
    """``text`` spoken by espeak-ng ``voice``, as 16 kHz int16 PCM."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed_wpm), "--stdout", text],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    samples, rate = sf.read(io.BytesIO(wav), dtype="float64")
    resampled = resample_poly(samples, SAMPLE_RATE_HZ, rate)
    return np.clip(resampled * 32767, -32768, 32767).astype(np.int16)


def with_noise(pcm: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``pcm`` with white noise at ``snr_db``."""
    signal = pcm.astype(np.float64)
    noise_rms = np.sqrt(np.mean(signal**2)) / 10 ** (snr_db / 20)
    noisy = signal + rng.normal(0, noise_rms, signal.size)
    return np.clip(noisy, -32768, 32767).astype(np.int16)


def clip_plan(rng: np.random.Generator, count: int) -> Iterator[tuple[str, str, bool]]:
    """(text, voice, noisy) for a household's clips, in capture order."""
    texts = seed_requests()
    for i in range(count):
        voice = WAKE_VOICES[int(rng.integers(len(WAKE_VOICES)))]
        yield f"Alexa, {texts[int(rng.integers(len(texts)))]}", voice, i % 7 == 5
        if i % 5 == 2:
            yield ACCIDENTAL_SPEECH[int(rng.integers(len(ACCIDENTAL_SPEECH)))], voice, False
    yield "Alexa, play some jazz in the kitchen", WAKE_VOICES[0], False
    yield "Alexa, forget what I just said", "en+f4", False


def seed(
    platform: Platform, *, now: datetime | None = None, seed_value: int = 2019
) -> dict[str, object]:
    """Create the demo households and upload their clips; does nothing if already seeded."""
    marker = platform.settings.data_dir / MARKER
    write_demo_settings(platform.settings.data_dir)
    if marker.exists():
        return dict(json.loads(marker.read_text()))
    if not espeak_available():
        raise RuntimeError("the demo needs espeak-ng (apt-get install espeak-ng)")
    rng = np.random.default_rng(seed_value)
    when = now or utcnow()
    summary: dict[str, object] = {"households": []}
    for index, demo in enumerate(HOUSEHOLDS):
        household_id, uploaded, invite = _seed_household(platform, demo, index, rng, when)
        summary["households"].append(  # type: ignore[attr-defined]
            {
                "name": demo.name,
                "email": demo.email,
                "household_id": household_id,
                "clips": uploaded,
                "invite_url": invite,
            }
        )
    summary["staff"] = _seed_staff(platform)
    process_uploads(platform)
    lead = next(m["pseudonym"] for m in summary["staff"] if m["role"] == "lead")  # type: ignore[union-attr]
    summary["reviews"] = asdict(seed_reviews(platform, lead, utcnow()))
    marker.write_text(json.dumps(summary, indent=2))
    os.chmod(marker, 0o600)
    return summary


DEMO_SETTINGS = """# Written by `overheard demo`: with the default 1 % sampling a few dozen clips would give the
# reviewers nothing to do, so the demo samples far more. Delete these lines for the real defaults.
OVERHEARD_REVIEW_SAMPLE_RATE=0.5
OVERHEARD_REVIEW_LOW_CONFIDENCE_RATE=0.9
OVERHEARD_REVIEW_DOUBLE_SHARE=0.25
"""


def write_demo_settings(data_dir: Path) -> None:
    """Add the demo's sampling settings to the data dir's settings file, once."""
    path = data_dir / "settings.env"
    existing = path.read_text() if path.exists() else ""
    if DEMO_SETTINGS.splitlines()[0] not in existing:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(DEMO_SETTINGS + existing)


def _seed_staff(platform: Platform) -> list[dict[str, str]]:
    """A demo annotator and lead, each with a one-time enrolment link (password + TOTP)."""
    staff = []
    with transaction(platform.sessions) as session:
        for name, role in (("Demo Annotator", "annotator"), ("Demo Lead", "lead")):
            user, token = create_staff(session, name=name, role=role, actor="demo")
            staff.append(
                {
                    "role": role,
                    "pseudonym": user.pseudonym,
                    "enrol_url": f"{platform.settings.base_url}/enrol/{token}",
                }
            )
    return staff


def process_uploads(platform: Platform) -> int:
    """Run every due job now (wake word, recognition, intents, sampling); how many ran."""
    from .jobs import claim, run_claimed
    from .tasks import register_all

    register_all()
    ran = 0
    while (job := claim(platform.sessions)) is not None:
        run_claimed(platform, job)
        ran += 1
    return ran


def _seed_household(
    platform: Platform, demo: DemoHousehold, index: int, rng: np.random.Generator, when: datetime
) -> tuple[str, int, str]:
    with transaction(platform.sessions) as session:
        done = enrol_household(
            session,
            platform.keyring,
            platform.secrets,
            name=demo.name,
            account=f"DEMO-{1000 + index}",
            email=demo.email,
            serial=f"DEMO-SN-{index:04d}",
            actor="demo",
        )
        start = when - timedelta(days=3)
        if demo.human_review:  # a day before its first clip: consent covers what follows it
            set_human_review(
                session, done.household_id, True, actor="customer", now=start - timedelta(days=1)
            )
        device = session.get(Device, done.device_id)
        invitation = invite_customer(session, done.household_id, actor="demo")
    assert device is not None
    plan = list(clip_plan(rng, demo.requests))
    step = timedelta(days=3) / (len(plan) + 1)
    for n, (text, voice, noisy) in enumerate(plan):
        pcm = synthesise(text, voice)
        if noisy:
            pcm = with_noise(pcm, NOISY_SNR_DB, rng)
        # The last two (a request, then "delete what I just said") happen a minute apart, just now.
        last_two = n - (len(plan) - 2)
        captured = (
            start + step * (n + 1) if last_two < 0 else when - timedelta(minutes=2 - last_two)
        )
        ingest(
            platform, device, to_wav_bytes(pcm), captured_at=captured, idempotency_key=f"demo-{n}"
        )
    return done.household_id, len(plan), f"{platform.settings.base_url}/invite/{invitation}"
