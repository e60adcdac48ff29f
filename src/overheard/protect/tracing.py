"""Tracing a leaked clip: decode any audio file, read its watermark, name the serve it came from."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..db import transaction
from ..errors import AudioRejected
from ..platform import Platform
from ..recordings.models import Recording
from ..speech.audio import SAMPLE_RATE_HZ, read_audio_file
from ._tables import Watermark
from .watermark import PAYLOAD_BITS, Issued, Trace, detect, issued


def listeners(session: Session, recording_ids: list[str]) -> dict[tuple[str, str], list[str]]:
    """Who was served each clip: (recording id, task pseudonym) -> staff pseudonyms, first first."""
    out: dict[tuple[str, str], list[str]] = {}
    rows = session.execute(
        select(Watermark.recording_id, Watermark.task_pseudonym, Watermark.staff)
        .where(Watermark.recording_id.in_(recording_ids))
        .order_by(Watermark.served_at)
    )
    for recording_id, task, staff in rows:
        heard = out.setdefault((recording_id, task), [])
        if staff not in heard:
            heard.append(staff)
    return out


FFMPEG_TIMEOUT_S = 120.0
"""Longest an ffmpeg decode of a file to trace may take, seconds."""


@dataclass(frozen=True)
class TraceResult:
    """What a file's watermark says, and the serve it names (if the id is ours)."""

    watermark_id: int | None
    """The id read from the audio (24-bit; 32-bit for clips served before), or None when no valid mark."""
    score: float
    """Detector score of the best candidate (reported, never decisive)."""
    false_positive_bound: float
    """Probability that an unmarked file yields an id under this decision rule."""
    serve: Watermark | None
    """The recorded serve with that id; None when no mark or an id we never issued."""


def decode_any(path: Path) -> np.ndarray:
    """16 kHz mono int16 samples of ``path``: libsndfile first, ffmpeg for MP3, Opus and the rest."""
    try:
        return read_audio_file(path).pcm
    except AudioRejected:
        return _ffmpeg_decode(path)


def _ffmpeg_decode(path: Path) -> np.ndarray:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioRejected(
            "cannot decode this file without ffmpeg (install it to trace MP3, Opus, …)",
            code="decoder_missing",
        )
    command = [ffmpeg, "-v", "error", "-nostdin", "-i", str(path), "-f", "s16le", "-ac", "1"]
    command += ["-ar", str(SAMPLE_RATE_HZ), "pipe:1"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise AudioRejected("decoding took too long", code="decode_timeout") from None
    if done.returncode != 0 or not done.stdout:
        raise AudioRejected("this file is not audio ffmpeg can decode", code="undecodable")
    return np.frombuffer(done.stdout, dtype="<i2").astype(np.int16)


def read_mark(pcm: np.ndarray, key: bytes, among: Issued | None = None) -> Trace:
    """The current watermark (searching ``among``, the issued ids, if given), else the earlier ones.

    False-positive bounds of the detectors tried add up.
    """
    current = detect(pcm, key, among=among)
    if current.payload is not None:
        return current
    bound = current.false_positive_bound
    # The earlier detectors need scipy.signal; tracing is rare and a web process has no use for it.
    from . import _watermark_v1, _watermark_v2

    for earlier in (_watermark_v2.detect, _watermark_v1.detect):
        found = earlier(pcm, key)
        bound += found.false_positive_bound
        if found.payload is not None:
            return Trace(found.payload, found.score, bound)
    return Trace(None, current.score, bound)


def trace_file(platform: Platform, path: Path, *, actor: str, now: datetime) -> TraceResult:
    """Read ``path``'s watermark under the server key and look it up; audited ``trace``."""
    key = platform.secrets["watermark"]
    pcm = decode_any(path)
    with transaction(platform.sessions) as session:
        ids = session.scalars(select(Watermark.id).where(Watermark.id < 2**PAYLOAD_BITS)).all()
    found = read_mark(pcm, key, among=issued(list(ids), key))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with transaction(platform.sessions) as session:
        serve = session.get(Watermark, found.payload) if found.payload is not None else None
        recording = session.get(Recording, serve.recording_id) if serve else None
        audit.append(
            session,
            actor=actor,
            action="trace",
            subject=serve.recording_id if serve else None,
            household_id=recording.household_id if recording else None,
            reason="traced"
            if serve
            else ("unknown_id" if found.payload is not None else "no_mark"),
            details={
                "watermark": found.payload,
                "file_sha256": digest,
                "staff": serve.staff if serve else None,
                "grant": f"{serve.grant_kind} {serve.grant_id}" if serve else None,
            },
            now=now,
        )
    return TraceResult(found.payload, found.score, found.false_positive_bound, serve)
