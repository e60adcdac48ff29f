"""The platform object: every service a route, command or worker needs, built from one Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .auditlog import Checkpointer, Signer, ensure_signing_key, load_signing_key
from .blobs import SESSION_INFO_KEY, BlobStore, blob_store_from_url
from .config import Settings
from .crypto.kek import KeyEncryptionKey, create_keyfile, kek_from_url
from .db import make_engine, make_sessionmaker, migrate
from .groupcommit import GroupCommitter
from .jobs import JobBackend, Periodic, make_backend
from .keys import KeyRing, KeyShares
from .purges import carry_runner
from .recordings.gate import ContentGate
from .server_secrets import ServerSecrets, create_secrets_file, load_secrets
from .speech.audio import AudioLimits


def open_kek(settings: Settings) -> KeyEncryptionKey:
    """The configured key-encryption key."""
    secret = settings.kek_secret.get_secret_value() or None
    return kek_from_url(settings.kek_url, secret=secret)


def open_blobs(settings: Settings) -> BlobStore:
    """The configured blob store."""
    return blob_store_from_url(
        settings.blob_url,
        s3_endpoint_url=settings.s3_endpoint_url or None,
        s3_region=settings.s3_region or None,
        s3_access_key=settings.s3_access_key.get_secret_value() or None,
        s3_secret_key=settings.s3_secret_key.get_secret_value() or None,
        s3_timeout_s=settings.s3_timeout_s,
        s3_max_attempts=settings.s3_max_attempts,
    )


def open_engine(settings: Settings, *, writer: bool = True) -> Engine:
    """An engine on the configured database, with its timeouts."""
    return make_engine(
        settings.database_url,
        writer=writer,
        connect_timeout_s=settings.database_connect_timeout_s,
        statement_timeout_s=settings.database_statement_timeout_s,
    )


def initialise(settings: Settings) -> None:
    """Create the data dir, key file, secrets file and schema; safe to run again."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.kek_url.startswith("keyfile:"):
        path = Path(settings.kek_url.removeprefix("keyfile:"))
        if not path.exists():
            create_keyfile(path)
    create_secrets_file(Path(settings.secrets_path))
    ensure_signing_key(Path(settings.audit_signing_key_path))
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


@dataclass
class Platform:
    """Engine, sessions, blobs, keys, secrets, the content gate and the job backend."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    """Sessions for reads only: on SQLite they do not take the write lock."""
    blobs: BlobStore
    keyring: KeyRing
    secrets: ServerSecrets
    gate: ContentGate = field(init=False)
    jobs: JobBackend = field(init=False)

    def __post_init__(self) -> None:
        self._timers: list[Periodic] = []
        self.gate = ContentGate(self.keyring, self.blobs)
        # Deletion hooks get only a session: through it they reach the blob store of derived copies.
        info = dict(self.sessions.kw.get("info") or {})
        self.sessions.configure(info={**info, SESSION_INFO_KEY: self.blobs})
        self.jobs = make_backend(self)
        carry_runner(self.sessions, self)

    @classmethod
    def open(cls, settings: Settings) -> Platform:
        """Connect to everything ``settings`` names (the schema must already be migrated)."""
        engine = open_engine(settings)
        reader = open_engine(settings, writer=False) if settings.is_sqlite else engine
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            readers=make_sessionmaker(reader),
            blobs=open_blobs(settings),
            keyring=KeyRing(open_kek(settings), KeyShares(Path(settings.key_share_dir))),
            secrets=load_secrets(Path(settings.secrets_path)),
        )

    @property
    def audio_limits(self) -> AudioLimits:
        """Upload limits for audio, from settings."""
        s = self.settings
        return AudioLimits(
            max_clip_seconds=s.max_clip_seconds,
            min_rate_hz=s.min_sample_rate_hz,
            max_rate_hz=s.max_sample_rate_hz,
            max_channels=s.max_channels,
        )

    @cached_property
    def audit_signer(self) -> Signer:
        """The key that signs audit checkpoints (kept outside the database)."""
        return load_signing_key(Path(self.settings.audit_signing_key_path))

    @property
    def reader_engine(self) -> Engine:
        """The engine the ``readers`` sessions use, for a read without a session (Core)."""
        bind = self.readers.kw.get("bind")
        return bind if isinstance(bind, Engine) else self.engine

    @cached_property
    def committer(self) -> GroupCommitter:
        """Shares one transaction (one commit, one fsync) among concurrent uploads."""
        return GroupCommitter(self.sessions)

    @cached_property
    def checkpointer(self) -> Checkpointer:
        """Signs an audit checkpoint whenever one is due (started with the workers)."""
        s = self.settings
        return Checkpointer(
            self.sessions,
            self.audit_signer,
            every_events=s.audit_checkpoint_every_events,
            every_s=s.audit_checkpoint_every_s,
            poll_s=s.audit_checkpoint_poll_s,
        )

    def start_background(self, *extra: Periodic) -> None:
        """Start the job workers, the audit checkpointer and any ``extra`` timers (stopped on close)."""
        self.jobs.start()
        self.checkpointer.start()
        for timer in extra:
            self._timers.append(timer)
            timer.start()

    def close(self) -> None:
        """Stop workers and release connections."""
        if "checkpointer" in self.__dict__:
            self.checkpointer.stop()
        for timer in self._timers:
            timer.stop()
        self.jobs.stop()
        if "committer" in self.__dict__:
            self.committer.close()
        self.blobs.close()
        self.engine.dispose()
        reader = self.readers.kw.get("bind")
        if reader is not None and reader is not self.engine:
            reader.dispose()
        close_kek = getattr(self.keyring.kek, "close", None)
        if close_kek is not None:  # an HSM login is per process: the next platform logs in anew
            close_kek()
