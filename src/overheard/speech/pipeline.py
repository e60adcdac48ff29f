"""The speech pipeline job: wake-word check, VAD, ASR, intent, then what follows from them.

Runs in a worker, never in the request. The audio is opened through the content gate (audited);
results are sealed. A recording whose wake word was not said is ``accidental``: never reviewable,
its audio purged after ``accidental_retention_s``. Privacy commands delete through the one
deletion service.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path

import numpy as np
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from .. import audit, blobs, jobs, purges
from ..config import Settings, settings_section
from ..db import transaction, utcnow
from ..errors import ConfigError
from ..learn.active import active_specs
from ..platform import Platform
from ..protect.timeline import with_tagged_names
from ..purges import Target
from ..recordings import voice_delete
from ..recordings.deletion import DELETION_HOOKS
from ..recordings.ingest import PROCESS_JOB
from ..recordings.models import Recording, Status
from ..recordings.purging import (
    ACCIDENTAL_PURGE,
    FAILED_PURGE,
    TRIMMED_PURGE,
    schedule_audio_purge,
)
from ..review.policy import ReviewPolicy
from ..review.sampler import DISGUISE_JOB, sample_after_transcription
from . import answer_window
from .asr import AsrBackend, Transcript, Word, asr_from_spec
from .guard import Answer, DeletionGuard, Verdict, answer_of, judge, mended
from .nlu import PRIVACY_INTENTS, IntentModel, Interpretation, PrivacyCommand, default_intent_model
from .questions import DECLINED, QUESTION, REASK
from .vad import (
    Segment,
    SileroVad,
    VadPass,
    request_end_s,
    speech_segments,
    trim_silence,
)
from .verify import Verification, can_verify, hints_at_deletion, verify
from .wake import WakeResult, WakeWordModel, keyword_end_s, verify_wake_word

log = logging.getLogger(__name__)

ACTOR = "system:pipeline"
SAMPLE_RATE_HZ = 16000
WAKE_PRE_ROLL_S = 0.1
"""Seconds kept before where the wake word ends, so a request said without a pause keeps its first
sound; the end is found inside the word's last syllable (docs/models/wake-word.md)."""
REQUEST_END_SILENCE_FLOOR_S = 0.5
"""The least ``request_end_silence_s``: at 0.5 s, 28 % of the words of read sentences are lost
(docs/models/vad.md)."""
REQUEST_MAX_FLOOR_S = 3.0
"""The least ``request_max_s``: a floor so that a mistyped setting cannot cut every request short."""
WAKE_TAIL_S = 0.5
"""Speech ending this soon after where recognition starts is the wake word's tail, not the start of
the request: the pause after it does not end the request (docs/privacy-model.md)."""
_REVIEW_RNG = random.SystemRandom()
"""Sampling draws come from the OS: nobody can predict or steer which clips are reviewed."""
VERIFIERS = ("openwakeword", "keyword")
TERMINAL = {
    Status.TRANSCRIBED.value,
    Status.ACCIDENTAL.value,
    Status.NO_SPEECH.value,
    Status.FAILED.value,
}
UNPROCESSED = (Status.RECEIVED.value, Status.PROCESSING.value)
"""Statuses of a recording whose outcome is not stored yet: only these become ``failed``."""
FINISHED = TERMINAL - {Status.FAILED.value}
"""Statuses a job never processes again; a ``failed`` recording is processed again when an operator
retries its job (``overheard jobs retry``), while it still has its audio."""
AUDIO_PURGED = "audio_purged"
"""``status_reason`` of a failed recording whose job was retried after its audio was purged
(``failed_audio_keep_s``): nothing is left to process."""


@dataclass
class SpeechStack:
    """The models of the pipeline, loaded once per process on first use."""

    verifier: str
    wake_model_path: str
    wake_threshold: float
    wake_keywords: tuple[str, ...]
    asr_spec: str
    wake_latest_end_s: float = 20.0
    """A wake word ending later than this into the clip makes it ``accidental``, seconds."""
    request_end_silence_s: float = 1.2
    """Quiet after the request's speech that ends it; what follows is cut, seconds."""
    request_max_s: float = 10.0
    """Longest audio kept after the wake word, seconds."""
    nlu_path: str | None = None
    """A lead-approved retrained intent model; None = the default seed model."""
    guard: DeletionGuard = field(default_factory=DeletionGuard)
    """The checks a voice deletion must pass."""

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
        settings.wake_latest_end_s,
        settings.request_end_silence_s,
        settings.request_max_s,
        guard=settings_section(DeletionGuard, settings, "voice_delete_"),
    )


def stack_for(platform: Platform) -> SpeechStack:
    """The platform's speech stack, using the newest lead-approved adapted models (if any)."""
    with platform.sessions() as session:
        asr_spec, nlu_path, versions = active_specs(session, platform.settings.asr)
    key = (id(platform), versions)
    with _stacks_lock:
        stack = _stacks.get(key)
        if stack is None:
            base = stack_from_settings(platform.settings)
            if asr_spec is not None and _adaptable(base.asr_spec):
                base.asr_spec = asr_spec
            base.nlu_path = str(nlu_path) if nlu_path is not None else None
            for old in [k for k in _stacks if k[0] == id(platform)]:
                del _stacks[old]
            stack = _stacks[key] = base
        return stack


def _adaptable(spec: str) -> bool:
    """A grammar is a closed command set: learned adaptations never replace it."""
    return not spec.endswith(".gram")


@dataclass(frozen=True)
class Outcome:
    """What the pipeline decided about one recording."""

    status: Status
    wake: WakeResult | None
    speech_s: float
    transcript: Transcript | None = None
    interpretation: Interpretation | None = None
    kept_from_s: float | None = None
    """Seconds into the received clip where the kept audio starts; None = all of it is kept."""
    verdict: Verdict | None = None
    """The deletion guard's decision (None when nothing was understood)."""
    answer: Answer | None = None
    """What the request says to a deletion question waiting for a spoken yes (:func:`answer_of`);
    None when it is a deletion request itself or nothing was understood."""
    kept_until_s: float | None = None
    """Seconds into the received clip where the kept audio ends (the request's end); None = the
    clip's end."""

    def summary(self, asked: PrivacyCommand | None = None) -> dict[str, object]:
        """A JSON-ready view (for the command line); ``asked``: the deletion whose question this
        clip answers, if one waits."""
        interp = self.interpretation
        return {
            "status": self.status.value,
            "wake_score": None if self.wake is None else round(self.wake.score, 4),
            "kept_from_s": None if self.kept_from_s is None else round(self.kept_from_s, 3),
            "kept_until_s": None if self.kept_until_s is None else round(self.kept_until_s, 3),
            "speech_s": round(self.speech_s, 3),
            "text": None if self.transcript is None else self.transcript.text,
            "confidence": None if self.transcript is None else round(self.transcript.confidence, 4),
            "words": None
            if self.transcript is None
            else [_word_json(w) for w in self.transcript.words],
            "intent": None if interp is None else interp.intent,
            "slots": None if interp is None else interp.slots,
            "answer": self.answer,
            "say": self.question(asked),
        }

    def question(self, asked: PrivacyCommand | None = None) -> str | None:
        """What the device says next (None: nothing): the question before a deletion that waits
        for a spoken yes, the question asked once more (:data:`REASK`) when this clip answers
        the question about ``asked`` unclearly, or that nothing was deleted (:data:`DECLINED`) when
        it answers no."""
        verdict = self.verdict
        if verdict is not None and verdict.command is not None and verdict.confirm:
            return QUESTION[verdict.command]
        if asked is not None and self.answer == "unclear":
            return REASK[asked]
        if asked is not None and self.answer == "no":
            return DECLINED[asked]
        return None


def _word_json(word: Word) -> dict[str, object]:
    return {
        "text": word.text,
        "start_s": round(word.start_s, 3),
        "end_s": round(word.end_s, 3),
        "confidence": round(word.confidence, 4),
    }


def after_wake_word(
    pcm: np.ndarray, kept_from_s: float | None, kept_until_s: float | None = None
) -> np.ndarray:
    """The audio kept: from ``kept_from_s`` (the start when None) to ``kept_until_s`` (the end)."""
    start = 0 if kept_from_s is None else round(kept_from_s * SAMPLE_RATE_HZ)
    end = pcm.size if kept_until_s is None else round(kept_until_s * SAMPLE_RATE_HZ)
    return pcm[start:end]


def request_until(
    stack: SpeechStack,
    pcm: np.ndarray,
    kept_from_s: float,
    heard_from_s: float,
    vad_pass: VadPass | None = None,
) -> float | None:
    """Where the kept audio ends, seconds into ``pcm``: at the request's first pause of
    ``request_end_silence_s`` (:func:`~overheard.speech.vad.request_end_s`), and at most
    ``request_max_s`` after ``kept_from_s``; None when the clip ends first. ``vad_pass``: the
    VAD's pass over the audio from ``heard_from_s``, to read (and keep) its frames from."""
    heard = after_wake_word(pcm, heard_from_s)
    end_s = request_end_s(
        heard,
        stack.vad,
        pause_s=stack.request_end_silence_s,
        after_s=WAKE_TAIL_S,
        vad_pass=vad_pass,
    )
    until_s = kept_from_s + stack.request_max_s
    if end_s is not None:
        until_s = min(until_s, heard_from_s + end_s)
    return until_s if until_s < pcm.size / SAMPLE_RATE_HZ else None


def kept_from(wake_end_s: float) -> float:
    """Where the kept audio starts for a wake word ending at ``wake_end_s``: a short pre-roll."""
    return max(wake_end_s - WAKE_PRE_ROLL_S, 0.0)


def after_wake(wake: WakeResult) -> tuple[float, float]:
    """Where the kept audio starts after a detected wake word, and where the recogniser starts
    hearing (after the score's peak: the tail of the wake word, kept for the listener, confuses a
    language model that has no wake word in it), seconds into the clip."""
    assert wake.at_s is not None
    return kept_from(wake.at_s), kept_from(wake.peak_s if wake.peak_s is not None else wake.at_s)


def heard_request(
    stack: SpeechStack,
    pcm: np.ndarray,
    kept_from_s: float,
    heard_from_s: float,
    *,
    end_pointed: bool = True,
) -> tuple[np.ndarray, float | None]:
    """The audio the recogniser hears, from ``heard_from_s`` to the request's end
    (:func:`request_until`; the clip's end without ``end_pointed``), and that end (None: the
    clip's). Evaluation hears held-out clips through this too (``learn.evaluate``)."""
    request, until_s, _vad_pass = _heard_request(
        stack, pcm, kept_from_s, heard_from_s, end_pointed=end_pointed
    )
    return request, until_s


def _heard_request(
    stack: SpeechStack,
    pcm: np.ndarray,
    kept_from_s: float,
    heard_from_s: float,
    *,
    end_pointed: bool,
) -> tuple[np.ndarray, float | None, VadPass]:
    """:func:`heard_request`, and the VAD's pass over the audio heard: the end-pointer runs the
    VAD only up to the request's end, and the request's segments reuse those frames."""
    vad_pass = stack.vad.run(after_wake_word(pcm, heard_from_s))
    until_s = (
        request_until(stack, pcm, kept_from_s, heard_from_s, vad_pass) if end_pointed else None
    )
    return after_wake_word(pcm, heard_from_s, until_s), until_s, vad_pass


def analyse(stack: SpeechStack, pcm: np.ndarray, *, wake_gate: bool = True) -> Outcome:
    """Run the models on a clip; pure, no storage. ``wake_gate=False`` transcribes plain speech
    (the whole clip: nothing of it is kept)."""
    if not wake_gate:
        return _analyse_request(stack, pcm, None, 0.0, 0.0, end_pointed=False)
    if stack.verifier == "keyword":
        return _analyse_keyword(stack, pcm)
    wake = verify_wake_word(pcm, stack.wake, stack.wake_threshold)
    if not wake.detected or wake.at_s is None or wake.at_s > stack.wake_latest_end_s:
        return Outcome(Status.ACCIDENTAL, wake, 0.0)
    return _analyse_request(stack, pcm, wake, *after_wake(wake))


def _analyse_keyword(stack: SpeechStack, pcm: np.ndarray) -> Outcome:
    # The whole clip is recognised once, in memory only, to find where the keyword ends; only
    # the audio after it is recognised again, stored and reviewed.
    segments = speech_segments(pcm, stack.vad)
    if not segments:  # no wake word heard: accidental, as openWakeWord mode calls such a clip
        return Outcome(Status.ACCIDENTAL, None, 0.0)
    offset_s = _first_start_s(segments)
    heard = stack.asr.transcribe(trim_silence(pcm, segments))
    end_s = keyword_end_s(heard.words, stack.wake_keywords)
    if end_s is None or end_s + offset_s > stack.wake_latest_end_s:
        return Outcome(Status.ACCIDENTAL, None, sum(g.end_s - g.start_s for g in segments))
    start_s = kept_from(end_s + offset_s)
    return _analyse_request(stack, pcm, None, start_s, start_s)


def _analyse_request(
    stack: SpeechStack,
    pcm: np.ndarray,
    wake: WakeResult | None,
    kept_from_s: float,
    heard_from_s: float,
    *,
    listen_again: bool = True,
    end_pointed: bool = True,
) -> Outcome:
    """Recognise the audio from ``heard_from_s`` to the request's end; word times count from
    ``kept_from_s``. ``listen_again=False`` leaves out the second listen (the benchmark runs it
    apart); ``end_pointed=False`` hears to the clip's end (a clip of which nothing is kept)."""
    request, until_s, vad_pass = _heard_request(
        stack, pcm, kept_from_s, heard_from_s, end_pointed=end_pointed
    )
    segments = speech_segments(request, stack.vad, probabilities=vad_pass.prefix(request.size))
    speech_s = sum(seg.end_s - seg.start_s for seg in segments)
    if not segments:
        return Outcome(Status.NO_SPEECH, wake, 0.0, kept_from_s=kept_from_s, kept_until_s=until_s)
    offset_s = heard_from_s - kept_from_s + _first_start_s(segments)
    heard = trim_silence(request, segments)
    transcript = shifted(stack.asr.transcribe(heard), offset_s)
    request_text = without_keywords(transcript.text, stack.wake_keywords)
    interpretation = stack.nlu.predict(mended(request_text))
    verdict = judge(stack.guard, interpretation, transcript, speech_s, request_text)
    found = (
        second_listen(stack, heard, transcript, verdict, speech_s, request_text)
        if listen_again
        else None
    )
    if found is not None:
        transcript, interpretation = shifted(found.transcript, offset_s), found.interpretation
        verdict = found.verdict
    answer = (
        answer_of(stack.guard, transcript, request_text)
        if verdict.reason == "not_a_command"
        else None
    )
    return Outcome(
        Status.TRANSCRIBED,
        wake,
        speech_s,
        transcript,
        interpretation,
        kept_from_s,
        verdict,
        answer,
        until_s,
    )


def second_listen(
    stack: SpeechStack,
    heard: np.ndarray,
    transcript: Transcript,
    verdict: Verdict,
    speech_s: float,
    request_text: str,
) -> Verification | None:
    """The deletion a second listen finds (:mod:`overheard.speech.verify`) when the first pass hints
    at one and the recogniser can listen again; None keeps the first pass's verdict."""
    if not can_verify(stack.asr):
        return None
    if not hints_at_deletion(stack.guard, stack.nlu, verdict, request_text, speech_s, transcript):
        return None
    found = verify(stack.guard, stack.asr, stack.nlu, heard, transcript, speech_s, request_text)  # type: ignore[arg-type]
    return found if found is not None and found.verdict.command is not None else None


def understand(stack: SpeechStack, request: np.ndarray, *, listen_again: bool = True) -> Outcome:
    """VAD, recogniser, intent model and deletion guard on a request whose wake word was cut (and
    whose end was found: the whole clip is heard)."""
    return _analyse_request(
        stack, request, None, 0.0, 0.0, listen_again=listen_again, end_pointed=False
    )


def _first_start_s(segments: list[Segment]) -> float:
    return math.floor(min(seg.start_s for seg in segments) * SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ


def shifted(transcript: Transcript, offset_s: float) -> Transcript:
    """``transcript`` with its word times moved ``offset_s`` later."""
    words = tuple(
        replace(w, start_s=w.start_s + offset_s, end_s=w.end_s + offset_s) for w in transcript.words
    )
    return replace(transcript, words=words)


def without_keywords(text: str, keywords: tuple[str, ...]) -> str:
    """The request with the wake words taken out, for intent understanding."""
    drop = {k.casefold() for k in keywords}
    return " ".join(w for w in text.split() if w.casefold().strip(",.!?") not in drop)


def process_recording(platform: Platform, recording_id: str) -> None:
    """The job handler: idempotent, and a no-op for a deleted or finished recording. A ``failed``
    one (its job retried) is processed again while it has its audio; once that was purged
    (``failed_audio_keep_s``) the job ends, the recording staying ``failed``, ``audio_purged``."""
    with transaction(platform.sessions) as session:
        # Locked: the sweep purging a failed recording's audio locks it too (one waits for the other).
        rec = session.get(Recording, recording_id, with_for_update=True)
        if rec is None or rec.status in FINISHED:
            return
        if rec.status == Status.FAILED.value and _audio_purged(session, rec):
            _nothing_to_retry(session, rec)
            return
        if rec.audio_blob is None:
            return
        rec.status = Status.PROCESSING.value
        rec.status_reason = None
        pcm = np.frombuffer(
            platform.gate.open_audio(session, rec, actor=ACTOR, purpose="pipeline"), dtype=np.int16
        )
    stack = stack_for(platform)
    outcome = analyse(stack, pcm)
    accidental = outcome.status is Status.ACCIDENTAL
    if accidental and _heard_as_answer(platform, recording_id, stack, pcm, outcome):
        return  # recognised only as the answer to a question waiting for its device
    # A spoken deletion is asked about or scheduled in the transaction storing its transcript.
    _store(platform, recording_id, outcome, pcm, utcnow())
    # Before the disguise: an answer is acted on, and a deletion due at once carried out, while
    # the household waits.
    _obey_privacy_command(platform, recording_id, outcome)
    if outcome.status is Status.TRANSCRIBED:
        # A sampled clip's disguise was queued with its task; make it now, before anyone asks.
        jobs.run_now(platform, DISGUISE_JOB, recording_id)


def _audio_purged(session: Session, rec: Recording) -> bool:
    """Whether a failed recording's audio is gone, or its purge scheduled."""
    if rec.audio_blob is None:
        return True
    waiting = select(purges.Purge.id).where(
        purges.Purge.location == rec.audio_blob, purges.Purge.reason == FAILED_PURGE
    )
    return session.scalar(waiting.limit(1)) is not None


def _nothing_to_retry(session: Session, rec: Recording) -> None:
    """A retried job whose recording's audio was purged: it stays ``failed``, saying why."""
    if rec.status_reason == AUDIO_PURGED:
        return
    rec.status_reason = AUDIO_PURGED
    audit.append(
        session,
        actor=ACTOR,
        action="pipeline.failed",
        subject=rec.id,
        household_id=rec.household_id,
        reason=AUDIO_PURGED,
    )


def _heard_as_answer(
    platform: Platform, recording_id: str, stack: SpeechStack, pcm: np.ndarray, outcome: Outcome
) -> bool:
    """A clip without the wake word, captured while a question waits for its device: recognised,
    acted on and kept only as the answer (:mod:`overheard.speech.answer_window`). False: no
    question waits for it, it stays an ordinary accidental wake."""
    question = answer_window.question_for(platform, recording_id)
    if question is None:
        return False
    heard = analyse(stack, pcm, wake_gate=False)
    said: Answer = heard.answer or "other"
    answer_window.keep_as_answer(
        platform, recording_id, question, said, heard.speech_s, outcome.wake, utcnow()
    )
    return True


def _store(
    platform: Platform, recording_id: str, outcome: Outcome, pcm: np.ndarray, when: datetime
) -> None:
    """Seal the results and set the status (a purge it schedules is tried as it commits).

    An accidental wake's audio is not marked purged here: its purge clears ``audio_blob`` and audits
    ``audio_purged`` only once the blob is gone (see :mod:`overheard.purges`).

    The row is locked before the trimmed audio is written and until it commits, so a deletion of
    the recording either finds the trimmed blob on the row or leaves no row to trim; a transaction
    that fails after the write removes the blob it wrote, unless the row names it (a commit
    reported failed may have gone through).
    """
    written: list[str] = []
    try:
        _store_locked(platform, recording_id, outcome, pcm, when, written)
    except BaseException:
        blobs.delete_quietly(platform.blobs, _unnamed(platform, recording_id, written))
        raise


def _unnamed(platform: Platform, recording_id: str, written: list[str]) -> list[str]:
    """Of the blobs a failed store wrote, those its recording's row does not name. A connection
    lost as the commit went through reports a failure for a transaction that took effect, whose
    row names the trimmed blob (and whose received clip is being purged). None when the row cannot
    be read: the orphan sweep removes what no row names, after its grace."""
    if not written:
        return []
    try:
        with platform.readers() as session:
            named = session.scalar(select(Recording.audio_blob).where(Recording.id == recording_id))
    except Exception:  # the store's own failure is what is raised
        return []
    return [key for key in written if key != named]


def _store_locked(
    platform: Platform,
    recording_id: str,
    outcome: Outcome,
    pcm: np.ndarray,
    when: datetime,
    written: list[str],
) -> None:
    tag_names = platform.settings.redaction_name_tagger  # before the row lock: about 9 ms of CPU
    said = outcome.transcript
    hypothesis = None if said is None else _transcript_json(said, tag_names=tag_names)
    deletion = _obeyed_deletion(outcome)
    with transaction(platform.sessions) as session:
        rec = session.get(Recording, recording_id, with_for_update={"key_share": True})
        if rec is None:
            return
        # Row locks before the first audit event, which holds the audit lock to the commit: the
        # household's (the sampler and a spoken deletion take it), then an answered deletion's job.
        if outcome.status is Status.TRANSCRIBED:
            voice_delete.lock_household(session, rec)
        reply = (
            voice_delete.reply_to(session, rec, outcome.answer)
            if outcome.answer is not None
            else None
        )
        rec.status = outcome.status.value
        rec.status_reason = None
        rec.wake_score = outcome.wake.score if outcome.wake else None
        rec.speech_s = round(outcome.speech_s, 3)
        rec.processed_at = when
        purge = False
        accidental = outcome.status is Status.ACCIDENTAL
        if accidental and platform.settings.accidental_retention_s <= 0 and rec.audio_blob:
            purge = bool(schedule_audio_purge(session, rec, reason=ACCIDENTAL_PURGE, now=when))
        elif _trimmed(outcome):
            written.append(_keep_request_only(platform, session, rec, pcm, outcome, when))
        if hypothesis is not None and said is not None and outcome.interpretation is not None:
            rec.asr_confidence = said.confidence
            platform.gate.seal_text(session, rec, "hypothesis", hypothesis)
            platform.gate.seal_text(
                session, rec, "intent", json.dumps(asdict(outcome.interpretation))
            )
            if outcome.interpretation.intent not in PRIVACY_INTENTS:
                # Before the pipeline's own audit event: the sampler takes the household lock first.
                policy = ReviewPolicy.from_settings(platform.settings)
                sample_after_transcription(
                    session, rec, policy, _REVIEW_RNG, when, outcome.transcript.weakest_word
                )
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
                "audio_purged": False,
                "audio_purge_scheduled": purge,
                "kept_from_s": outcome.kept_from_s,
                "kept_until_s": outcome.kept_until_s,
            },
        )
        if deletion is not None:
            _queue_deletion(platform, session, rec, deletion, when)
        voice_delete.act_on_reply(platform, session, rec, reply, now=when)
        _audit_refusal(session, rec, outcome.verdict, when)


def _obeyed_deletion(outcome: Outcome) -> Verdict | None:
    """The guard's verdict when it obeys a spoken deletion (to ask about or schedule), else None."""
    verdict = outcome.verdict
    return verdict if verdict is not None and verdict.command is not None else None


def _queue_deletion(
    platform: Platform, session: Session, rec: Recording, verdict: Verdict, when: datetime
) -> None:
    """Ask about or schedule the deletion ``rec`` said (and hold what it names) in the transaction
    that stores its transcript: a job killed after that commit cannot leave a command understood
    but never acted on, and its retry (``FINISHED``) cannot act on it twice."""
    assert verdict.command is not None
    if verdict.confirm:
        voice_delete.queue_asked(platform, session, rec, verdict.command, when)
    else:
        voice_delete.queue_scheduled(platform, session, rec, verdict.command, when)


def _trimmed(outcome: Outcome) -> bool:
    """Whether the outcome keeps less than the received clip."""
    starts_late = outcome.kept_from_s is not None and outcome.kept_from_s > 0
    return starts_late or outcome.kept_until_s is not None


def _keep_request_only(
    platform: Platform,
    session: Session,
    rec: Recording,
    pcm: np.ndarray,
    outcome: Outcome,
    when: datetime,
) -> str:
    """Re-seal only the request (after the wake word, up to its end) as the recording's content;
    purge the received clip.

    Returns the new blob's key.

    The received clip becomes a purge (retried until it is gone), so what was said before the wake
    word or after the request survives in no copy: not for reviewers, exports or the customer.
    """
    old = rec.audio_blob
    kept_from_s = outcome.kept_from_s or 0.0
    request = after_wake_word(pcm, kept_from_s, outcome.kept_until_s)
    rec.audio_blob = platform.gate.reseal_audio(session, rec, request.tobytes())
    received_s = rec.duration_s
    rec.duration_s = request.size / SAMPLE_RATE_HZ
    audit.append(
        session,
        actor=ACTOR,
        action="recording.trimmed",
        subject=rec.id,
        household_id=rec.household_id,
        now=when,
        details={
            "received_s": round(received_s, 3),
            "kept_from_s": round(kept_from_s, 3),
            "kept_until_s": None
            if outcome.kept_until_s is None
            else round(outcome.kept_until_s, 3),
            "kept_s": round(rec.duration_s, 3),
        },
    )
    purges.schedule(
        session,
        Target.BLOB,
        [old] if old else [],
        reason=TRIMMED_PURGE,
        recording_id=rec.id,
        household_id=rec.household_id,
        now=when,
    )
    return rec.audio_blob


def _transcript_json(transcript: Transcript, *, tag_names: bool = False) -> str:
    """The sealed hypothesis; ``tag_names`` (setting ``redaction_name_tagger``): with the learned
    name tagger's names, which redaction adds to its rules' when staff are served the text."""
    body: dict[str, object] = {
        "text": transcript.text,
        "confidence": transcript.confidence,
        "model": transcript.model,
        "words": [asdict(w) for w in transcript.words],
    }
    return json.dumps(with_tagged_names(body) if tag_names else body)


def _obey_privacy_command(platform: Platform, recording_id: str, outcome: Outcome) -> None:
    """After the transcript's commit: carry out at once a deletion queued without undo
    (``_queue_deletion``). An answer to a deletion question, and a refused deletion's audit event,
    went in with the transcript."""
    verdict = outcome.verdict
    if verdict is None or verdict.command is None or verdict.confirm:
        return
    if platform.settings.voice_delete_undo_s <= 0:
        # Queued with the transcript, due at once: carried out now (a worker, if this one dies).
        jobs.run_now(platform, voice_delete.JOB_KINDS[verdict.command], recording_id)


def _audit_refusal(session: Session, rec: Recording, verdict: Verdict | None, when: datetime) -> None:
    """A deletion-looking request the guard did not obey leaves an audit event saying why, in the
    transaction that stores its transcript."""
    if verdict is None or verdict.command is not None or verdict.reason == "not_a_command":
        return
    audit.append(
        session,
        actor=ACTOR,
        action="voice_delete.refused",
        subject=rec.id,
        household_id=rec.household_id,
        reason=verdict.reason,
        now=when,
    )


def mark_failed(platform: Platform, recording_id: str, reason: str) -> None:
    """A job that gave up leaves its recording ``failed`` with the reason: the exception's type
    (``errors.safe_reason``; never its message, which may quote what was said), also audited.

    Its audio stays as received (never trimmed) for ``failed_audio_keep_s`` from now
    (``processed_at``), for a retry; then the retention sweep purges it. A recording whose outcome
    was already stored (the job failed in a later step, on its last attempt) keeps that outcome:
    its audio was trimmed, and it may be in review."""
    with transaction(platform.sessions) as session:
        session.execute(
            update(Recording)
            .where(Recording.id == recording_id, Recording.status.in_(UNPROCESSED))
            .values(status=Status.FAILED.value, status_reason=reason[:500], processed_at=utcnow())
        )
        audit.append(
            session,
            actor=ACTOR,
            action="pipeline.failed",
            subject=recording_id,
            reason=reason.split(":", 1)[0].strip()[:64],
        )


def forget_encodings(session: Session, recording_ids: list[str]) -> dict[str, int]:
    """Deletion: the recognisers' kept encoder output (derived from a clip's speech, perhaps one of
    ``recording_ids``) is dropped now and again once ``session`` commits, not ``ENCODING_KEEP_S``
    later (a transcription between the two, of a clip the deletion waited for, keeps none)."""
    from . import _whisper

    _whisper.forget_encodings()
    event.listen(session, "after_commit", lambda _s: _whisper.forget_encodings(), once=True)
    return {}


def register() -> None:
    """Register the pipeline job, and the deletion hook that drops what the recognisers keep."""
    purges.register()
    jobs.register(PROCESS_JOB, process_recording, mark_failed)
    voice_delete.register()
    if forget_encodings not in DELETION_HOOKS:
        DELETION_HOOKS.append(forget_encodings)
