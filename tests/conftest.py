"""Fixtures shared by the whole suite: settings per database backend, the platform, factories."""

from __future__ import annotations

import fcntl
import io
import os
import pickle
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import create_engine, text

PROJECT_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "OVERHEARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEMPLATE_DB = f"ovh_tpl_{uuid.uuid4().hex[:10]}"


def shared_data_dir() -> Path:
    """Where the evaluation data lives (``../shared/data`` beside the project, or $OVERHEARD_SHARED_DATA)."""
    return Path(os.environ.get("OVERHEARD_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The evaluation data folder; tests that need it skip with a reason when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"evaluation data not found at {path} (set OVERHEARD_SHARED_DATA)")
    return path


LONG_FILES = (
    "tests/learn/test_evaluate_cli.py",
    "tests/protect/test_disguise_knn.py",
    "tests/review/test_sampler_simulation.py",
    "tests/ops/test_deploy.py",
    "tests/protect/test_disguise_knn_target.py",
    "tests/privacy/test_copy_races.py",
    "tests/protect/test_disguise_knn_wer.py",
    "tests/protect/test_disguise.py",
)
"""Test files of a few long tests, started first in a parallel run, in this order.

Measured serially on 2 cores: the evaluation scenario about 90 s of CPU on SQLite (whisper on
the external held-out set; the PostgreSQL run leaves that set out and is an ordinary file), the
target-voice pool 70 s (built by the first file that needs it, waited for by the others), the
month of sampling 90 s, the deployment under load 80 s. With two processes the first takes the
SQLite evaluation, the second the first kNN file, which builds the pool; the month of sampling
and the deployment, which need no pool, come before the later kNN files, so a process that is
free early does not sit idle while the pool is built."""


def pytest_configure(config: pytest.Config) -> None:
    """A parallel run hands out test files in the order ``pytest_collection_modifyitems`` leaves
    them, not re-sorted by xdist by their number of tests (which put the few long tests last)."""
    if getattr(config.option, "numprocesses", None):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a parallel run's processes, the ``LONG_FILES`` first, then the other files by their number
    of tests, most first (what xdist's own ordering does); a file's tests keep their order."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    counts: dict[str, int] = {}
    for item in items:
        counts[item.nodeid.split("::")[0]] = counts.get(item.nodeid.split("::")[0], 0) + 1

    def rank(item: pytest.Item) -> tuple[int, int]:
        path = item.nodeid.split("::")[0]
        if path in LONG_FILES:
            return (LONG_FILES.index(path), 0)
        return (len(LONG_FILES), -counts[path])

    items.sort(key=rank)


@pytest.fixture(scope="session", autouse=True)
def _voice_pools_built_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """In parallel runs (pytest-xdist), the disguise's target-voice pools are built by the first
    worker that needs one and read back by the others, instead of once in every worker (a pool's
    WORLD analysis of 23 min of speech is about a minute of CPU; reading it back, a second)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    from overheard.protect import _voices

    shared = tmp_path_factory.getbasetemp().parent / "voice-pools"
    shared.mkdir(exist_ok=True)
    build = _voices.load

    def load(name: str, encoder: str = "tiny.en"):  # type: ignore[no-untyped-def]
        if (name, encoder) not in _voices._loaded:
            path = shared / f"{name}-{encoder}.pickle"
            with (shared / f"{path.name}.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it right now
                if path.is_file():
                    with _voices._lock:
                        _voices._loaded.setdefault((name, encoder), pickle.loads(path.read_bytes()))
                else:
                    written = path.with_suffix(".part")
                    written.write_bytes(pickle.dumps(build(name, encoder), protocol=5))
                    written.replace(path)
        return build(name, encoder)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_voices, "load", load)
        yield


def _admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template() -> str:
    """A migrated template database; each test clones it (fast) into a database of its own."""
    from overheard.db import make_engine, migrate

    try:
        admin = _admin_engine()
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {TEMPLATE_DB}"))
    engine = make_engine(POSTGRES_URL.rsplit("/", 1)[0] + f"/{TEMPLATE_DB}")
    migrate(engine)
    engine.dispose()
    yield TEMPLATE_DB
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, or a PostgreSQL database cloned from the template."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'overheard.db'}"
        return
    with cloned_postgres(request.getfixturevalue("postgres_template")) as url:
        yield url


@contextmanager
def cloned_postgres(template: str) -> Iterator[str]:
    """The URL of a new PostgreSQL database cloned from ``template``, dropped afterwards."""
    name = f"ovh_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    """Settings for a platform in a temporary data dir, on the parametrised database."""
    from overheard.config import Settings

    return Settings(data_dir=tmp_path / "data", database_url=database_url, workers=1).resolved()


@pytest.fixture
def platform(settings):  # type: ignore[no-untyped-def]
    """An initialised platform (workers not started)."""
    from overheard.platform import Platform, initialise

    initialise(settings)
    plat = Platform.open(settings)
    yield plat
    plat.close()


@pytest.fixture
def make_household(platform) -> Callable[..., object]:  # type: ignore[no-untyped-def]
    """Factory: enrol a household with one device; returns the Enrolment (with the device token)."""
    from overheard.db import transaction
    from overheard.identity.service import enrol_household

    def make(
        name: str = "Ada",
        account: str | None = None,
        email: str | None = None,
        serial: str | None = None,
    ):  # type: ignore[no-untyped-def]
        tag = uuid.uuid4().hex[:8]
        with transaction(platform.sessions) as session:
            return enrol_household(
                session,
                platform.keyring,
                platform.secrets,
                name=name,
                account=account or f"ACC-{tag}",
                email=email or f"{tag}@example.org",
                serial=serial or f"SN-{tag}",
            )

    return make


@pytest.fixture
def client(platform):  # type: ignore[no-untyped-def]
    """An in-process HTTP client on the app (workers not started)."""
    from fastapi.testclient import TestClient

    from overheard.web import create_app

    with TestClient(create_app(platform, run_workers=False)) as test_client:
        yield test_client


def tone_wav(
    seconds: float = 1.0,
    rate_hz: int = 16000,
    channels: int = 1,
    subtype: str = "PCM_16",
    freq_hz: float = 440.0,
) -> bytes:
    """A WAV of a sine tone with a little noise, for tests that need valid audio."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    rng = np.random.default_rng(7)
    mono = 0.3 * np.sin(2 * np.pi * freq_hz * t) + 0.01 * rng.standard_normal(t.size)
    data = np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono
    buf = io.BytesIO()
    sf.write(buf, data, rate_hz, subtype=subtype, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="session")
def whisper_asr():  # type: ignore[no-untyped-def]
    """The default whisper recogniser, loaded once for the whole test session."""
    from overheard.speech.asr import asr_from_spec

    return asr_from_spec("whisper")
