"""The speech pipeline job: wake-word check, VAD, ASR, intent, then what follows from them.

Runs in a worker, never in the request. The audio is opened through the content gate (audited);
results are sealed. A recording whose wake word was not said is ``accidental``: never reviewable,
its audio purged after ``accidental_retention_s``. Privacy commands delete through the one
deletion service.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import numpy as np
from sqlalchemy import update

from .. import audit, jobs
from ..config import Settings
from ..db import transaction, utcnow
from ..errors import ConfigError
from ..learn.active import active_specs
from ..platform import Platform
from ..recordings.deletion import delete_last, delete_today
from ..recordings.ingest import PROCESS_JOB
from ..recordings.models import Recording, Status
from ..review.policy import ReviewPolicy
from ..review.sampler import sample_after_transcription
from .asr import AsrBackend, Transcript, asr_from_spec
from .nlu import IntentModel, Interpretation, default_intent_model, is_privacy_command
from .vad import SileroVad, speech_segments, trim_silence
from .wake import WakeResult, WakeWordModel, keyword_in_transcript, verify_wake_word

log = logging.getLogger(__name__)

ACTOR = "system:pipeline"
SAMPLE_RATE_HZ = 16000
WAKE_TAIL_S = 0.1
"""The wake-word score peaks a little after the word ends: cut this much earlier."""
_REVIEW_RNG = random.SystemRandom()
"""Sampling draws come from the OS: nobody can predict or steer which clips are reviewed."""
VERIFIERS = ("openwakeword", "keyword")
TERMINAL = {
    Status.TRANSCRIBED.value,
    Status.ACCIDENTAL.value,
    Status.NO_SPEECH.value,
    Status.FAILED.value,
}


@dataclass
class SpeechStack:
    """The models of the pipeline, loaded once per process on first use."""

    verifier: str
    wake_model_path: str
    wake_threshold: float
    wake_keywords: tuple[str, ...]
    asr_spec: str
    nlu_path: str | None = None
    """A lead-approved retrained intent model; None = the default seed model."""

    @cached_property
    def wake(self) -> WakeWordModel:
        """The wake-word model."""
        return WakeWordModel(Path(self.wake_model_path) if self.wake_model_path else None)

    @cached_property
    def vad(self) -> SileroVad:
        """The voice activity detector."""
        return SileroVad()

    @cached_property
    def asr(self) -> AsrBackend:
        """The speech recogniser."""
        return asr_from_spec(self.asr_spec)

    @cached_property
    def nlu(self) -> IntentModel:
        """The intent model."""
        return IntentModel.load(Path(self.nlu_path)) if self.nlu_path else default_intent_model()


_stacks: dict[tuple[int, tuple[str, ...]], SpeechStack] = {}
_stacks_lock = threading.Lock()


def stack_from_settings(settings: Settings) -> SpeechStack:
    """A speech stack configured by ``settings`` (models load on first use)."""
    if settings.wake_verifier not in VERIFIERS:
        raise ConfigError(
            f"unknown wake_verifier {settings.wake_verifier!r}; use one of {VERIFIERS}"
        )
    keywords = tuple(k.strip() for k in settings.wake_keywords.split(",") if k.strip())
    return SpeechStack(
        settings.wake_verifier,
        settings.wake_model_path,
        settings.wake_threshold,
        keywords,
        settings.asr,
    )


def stack_for(platform: Platform) -> SpeechStack:
    """The platform's speech stack, using the newest lead-approved adapted models (if any)."""
    with platform.sessions() as session:
        asr_spec, nlu_path, versions = active_specs(session)
    key = (id(platform), versions)
    with _stacks_lock:
        stack = _stacks.get(key)
        if stack is None:
            base = stack_from_settings(platform.settings)
            if asr_spec is not None and base.asr_spec.startswith("pocketsphinx"):
                base.asr_spec = asr_spec
            base.nlu_path = str(nlu_path) if nlu_path is not None else None
            for old in [k for k in _stacks if k[0] == id(platform)]:
                del _stacks[old]
            stack = _stacks[key] = base
        return stack


@dataclass(frozen=True)
class Outcome:
    """What the pipeline decided about one recording."""

    status: Status
    wake: WakeResult | None
    speech_s: float
    transcript: Transcript | None = None
    interpretation: Interpretation | None = None

    def summary(self) -> dict[str, object]:
        """A JSON-ready view (for the command line)."""
        interp = self.interpretation
        return {
            "status": self.status.value,
            "wake_score": None if self.wake is None else round(self.wake.score, 4),
            "speech_s": round(self.speech_s, 3),
            "text": None if self.transcript is None else self.transcript.text,
            "confidence": None if self.transcript is None else round(self.transcript.confidence, 4),
            "intent": None if interp is None else interp.intent,
            "slots": None if interp is None else interp.slots,
        }


def after_wake_word(pcm: np.ndarray, wake: WakeResult | None) -> np.ndarray:
    """The request that follows the wake word (the recogniser's language model has no wake word)."""
    if wake is None or wake.at_s is None:
        return pcm
    return pcm[round(max(wake.at_s - WAKE_TAIL_S, 0.0) * SAMPLE_RATE_HZ) :]


def analyse(stack: SpeechStack, pcm: np.ndarray) -> Outcome:
    """Run the models on a clip; pure, no storage."""
    wake = None
    if stack.verifier == "openwakeword":
        wake = verify_wake_word(pcm, stack.wake, stack.wake_threshold)
        if not wake.detected:
            return Outcome(Status.ACCIDENTAL, wake, 0.0)
    request = after_wake_word(pcm, wake)
    segments = speech_segments(request, stack.vad)
    speech_s = sum(seg.end_s - seg.start_s for seg in segments)
    if not segments:
        return Outcome(Status.NO_SPEECH, wake, 0.0)
    transcript = stack.asr.transcribe(trim_silence(request, segments))
    request_text = transcript.text
    if stack.verifier == "keyword":
        if not keyword_in_transcript(transcript.text, stack.wake_keywords):
            return Outcome(Status.ACCIDENTAL, wake, speech_s)
        request_text = without_keywords(transcript.text, stack.wake_keywords)
    return Outcome(Status.TRANSCRIBED, wake, speech_s, transcript, stack.nlu.predict(request_text))


def without_keywords(text: str, keywords: tuple[str, ...]) -> str:
    """The request with the wake words taken out, for intent understanding."""
    drop = {k.casefold() for k in keywords}
    return " ".join(w for w in text.split() if w.casefold().strip(",.!?") not in drop)


def process_recording(platform: Platform, recording_id: str) -> None:
    """The job handler: idempotent, and a no-op for a deleted or finished recording."""
    with transaction(platform.sessions) as session:
        rec = session.get(Recording, recording_id)
        if rec is None or rec.status in TERMINAL or rec.audio_blob is None:
            return
        rec.status = Status.PROCESSING.value
        pcm = np.frombuffer(
            platform.gate.open_audio(session, rec, actor=ACTOR, purpose="pipeline"), dtype=np.int16
        )
    outcome = analyse(stack_for(platform), pcm)
    purge = _store(platform, recording_id, outcome, utcnow())
    if purge:
        platform.blobs.delete(purge)
    if outcome.interpretation is not None:
        _obey_privacy_command(platform, recording_id, outcome.interpretation)


def _store(platform: Platform, recording_id: str, outcome: Outcome, when: datetime) -> str | None:
    """Seal the results and set the status; returns a blob key to purge after commit, if any."""
    with transaction(platform.sessions) as session:
        rec = session.get(Recording, recording_id)
        if rec is None:
            return None
        rec.status = outcome.status.value
        rec.status_reason = None
        rec.wake_score = outcome.wake.score if outcome.wake else None
        rec.speech_s = round(outcome.speech_s, 3)
        rec.processed_at = when
        purge = None
        accidental = outcome.status is Status.ACCIDENTAL
        if accidental and platform.settings.accidental_retention_s <= 0:
            purge, rec.audio_blob = rec.audio_blob, None
        if outcome.transcript is not None and outcome.interpretation is not None:
            rec.asr_confidence = outcome.transcript.confidence
            platform.gate.seal_text(
                session, rec, "hypothesis", _transcript_json(outcome.transcript)
            )
            platform.gate.seal_text(
                session, rec, "intent", json.dumps(asdict(outcome.interpretation))
            )
            if is_privacy_command(outcome.interpretation) is None:
                # Before the pipeline's own audit event: the sampler takes the household lock first.
                policy = ReviewPolicy.from_settings(platform.settings)
                sample_after_transcription(session, rec, policy, _REVIEW_RNG, when)
        audit.append(
            session,
            actor=ACTOR,
            action=f"pipeline.{outcome.status.value}",
            subject=rec.id,
            household_id=rec.household_id,
            now=when,
            details={
                "wake_score": None if outcome.wake is None else round(outcome.wake.score, 4),
                "asr_confidence": rec.asr_confidence,
                "audio_purged": purge is not None,
            },
        )
    return purge


def _transcript_json(transcript: Transcript) -> str:
    return json.dumps(
        {
            "text": transcript.text,
            "confidence": transcript.confidence,
            "model": transcript.model,
            "words": [asdict(w) for w in transcript.words],
        }
    )


def _obey_privacy_command(platform: Platform, recording_id: str, interp: Interpretation) -> None:
    command = is_privacy_command(interp)
    if command is None:
        return
    with platform.sessions() as session:
        rec = session.get(Recording, recording_id)
    if rec is None:
        return
    if command == "delete_last":
        delete_last(platform, rec, window_s=platform.settings.voice_delete_window_s)
    else:
        delete_today(platform, rec)


def mark_failed(platform: Platform, recording_id: str, reason: str) -> None:
    """A job that gave up leaves its recording ``failed`` with the reason."""
    with transaction(platform.sessions) as session:
        session.execute(
            update(Recording)
            .where(Recording.id == recording_id)
            .values(status=Status.FAILED.value, status_reason=reason[:500])
        )
        audit.append(
            session,
            actor=ACTOR,
            action="pipeline.failed",
            subject=recording_id,
            reason=reason[:200],
        )


def register() -> None:
    """Register the pipeline job."""
    jobs.register(PROCESS_JOB, process_recording, mark_failed)
