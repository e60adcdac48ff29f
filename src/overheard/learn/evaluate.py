"""Evaluation on the held-out split: WER per ASR version, intent accuracy and macro-F1 per NLU version.

Held-out clips are the reviewed clips whose recorded split is ``heldout`` and that share neither a
household nor a sentence with the train side (nor a sentence with the seed training requests), so a
score measures new speakers on new wording; evaluation refuses to score a version whose lineage
contains one (that would measure memory, not skill). Audio is opened through the content gate and
prepared exactly as the pipeline prepares it (cut after the wake word and at the request's end,
VAD, silence trimmed). Scores are also given per sampling reason: ``random`` clips are an unbiased
sample of traffic, ``low_confidence`` clips the hard cases the sampler adds on purpose. Beside them, every recogniser is
scored on the external held-out set (:mod:`overheard.learn.heldout`), wording shipped with the project
and spoken at evaluation time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import transaction, utcnow
from ..errors import Conflict
from ..platform import Platform
from ..recordings.models import Recording
from ..speech.asr import AsrBackend, adapted_spec, asr_from_spec
from ..speech.nlu import IntentModel, default_intent_model
from ..speech.seed import seed_requests
from ..speech.vad import SileroVad, speech_segments, trim_silence
from .heldout import HELDOUT_VOICES, espeak_available, spoken_external
from .metrics import IntentScore, by_group, intent_score, wer
from .models import Lineage, ModelKind, SplitName, VersionState
from .registry import list_versions
from .reviewed import Example, open_labels, reviewed_clips
from .split import HELDOUT_PERCENT, assign_splits, new_wording

if TYPE_CHECKING:
    from ..speech.pipeline import SpeechStack

ACTOR = "system:evaluate"
WAKE_WORDS = ("alexa",)
"""Taken out of references and hypotheses: the pipeline never asks the recogniser for them."""
BASELINE_ASR = {"generic en-us": "pocketsphinx:generic", "default (seed domain)": "pocketsphinx"}
"""Baselines when pocketsphinx is the recogniser in use."""


def baselines_for(recogniser: str) -> dict[str, str]:
    """The unadapted recognisers an evaluation compares the adapted versions against."""
    if recogniser.startswith("pocketsphinx"):
        return BASELINE_ASR
    return {f"{recogniser} (unadapted)": recogniser}


@dataclass(frozen=True)
class EvalClip:
    """A held-out clip: its label and its audio as the recogniser sees it."""

    example: Example
    pcm: np.ndarray


@dataclass(frozen=True)
class AsrRow:
    """One recogniser on the held-out clips."""

    label: str
    version_id: str | None
    wer: float
    wer_by_reason: dict[str, float]
    hypotheses: tuple[str, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class NluRow:
    """One intent model on the held-out transcripts."""

    label: str
    version_id: str | None
    score: IntentScore
    accuracy_by_reason: dict[str, float]


@dataclass(frozen=True)
class ExternalRow:
    """One recogniser on the external held-out set."""

    label: str
    wer: float


@dataclass(frozen=True)
class Evaluation:
    """Everything a report shows."""

    at: datetime
    clips: int
    reasons: dict[str, int]
    """Held-out clips per sampling reason."""
    asr: list[AsrRow]
    nlu: list[NluRow]
    left_out: dict[str, int] = field(default_factory=dict)
    """Held-out clips not scored: ``same_sentence`` / ``same_household`` as the train side."""
    external: list[ExternalRow] = field(default_factory=list)
    external_clips: int = 0
    """Spoken external requests (requests x voices); 0 when not run."""


@dataclass(frozen=True)
class HeldoutExamples:
    """The held-out examples that are scored, and how many were left out and why."""

    examples: list[Example]
    same_sentence: int = 0
    same_household: int = 0


def heldout_examples(
    platform: Platform,
    session: Session,
    *,
    heldout_percent: int = HELDOUT_PERCENT,
    actor: str = ACTOR,
) -> HeldoutExamples:
    """Held-out reviewed clips sharing no household and no sentence with the train side (or the
    seed training requests), labels opened through the gate."""
    clips = reviewed_clips(session)
    sides = assign_splits(
        session, ((c.recording_id, c.household_id) for c in clips), heldout_percent=heldout_percent
    )
    with_audio = {c.recording_id for c in reviewed_clips(session, with_audio=True)}
    held = [
        c
        for c in clips
        if sides[c.recording_id] is SplitName.HELDOUT and c.recording_id in with_audio
    ]
    train = [c for c in clips if sides[c.recording_id] is SplitName.TRAIN]
    held_ex = open_labels(session, platform.gate, held, actor=actor, purpose="evaluate")
    train_ex = open_labels(session, platform.gate, train, actor=actor, purpose="evaluate")
    split = new_wording(
        [(e.clip.household_id, e.transcript) for e in held_ex],
        [(e.clip.household_id, e.transcript) for e in train_ex],
        [r.text for r in seed_requests("train")],
    )
    return HeldoutExamples(
        [held_ex[i] for i in split.kept], split.same_sentence, split.same_household
    )


def prepare(pcm: np.ndarray, vad: SileroVad) -> np.ndarray:
    """The samples the pipeline hands the recogniser: speech segments, silence trimmed."""
    segments = speech_segments(pcm, vad)
    return trim_silence(pcm, segments) if segments else pcm


def request_audio(pcm: np.ndarray, stack: SpeechStack) -> np.ndarray:
    """The request the pipeline's recogniser hears in ``pcm``, cut by the pipeline's own functions:
    after the wake word, and at the request's end (``request_end_silence_s``, ``request_max_s``),
    so nothing the pipeline never kept is scored."""
    from ..speech.pipeline import after_wake, heard_request
    from ..speech.wake import verify_wake_word

    if stack.verifier != "openwakeword":
        return pcm
    wake = verify_wake_word(pcm, stack.wake, stack.wake_threshold)
    if not wake.detected or wake.at_s is None:
        return pcm
    return heard_request(stack, pcm, *after_wake(wake))[0]


def load_heldout(
    platform: Platform, *, heldout_percent: int = HELDOUT_PERCENT
) -> tuple[list[EvalClip], HeldoutExamples]:
    """The scored held-out clips with their prepared audio (opened through the gate, audited)."""
    from ..speech.pipeline import stack_from_settings

    stack = stack_from_settings(platform.settings)
    with transaction(platform.sessions) as session:
        found = heldout_examples(platform, session, heldout_percent=heldout_percent)
        clips = []
        for e in found.examples:
            rec = session.get_one(Recording, e.clip.recording_id)
            raw = platform.gate.open_audio(session, rec, actor=ACTOR, purpose="evaluate")
            pcm = request_audio(np.frombuffer(raw, dtype=np.int16), stack)
            clips.append(EvalClip(e, prepare(pcm, stack.vad)))
    return clips, found


def external_clips(
    vad: SileroVad, voices: Sequence[str] = HELDOUT_VOICES
) -> list[tuple[str, np.ndarray]]:
    """The external held-out requests spoken in ``voices``, prepared like the pipeline's audio."""
    return [(s.text, prepare(s.pcm, vad)) for s in spoken_external(voices)]


def transcripts(
    backends: Mapping[str, AsrBackend], clips: Sequence[np.ndarray]
) -> dict[str, list[str]]:
    """Each backend's transcripts of ``clips`` (wake words taken out), by label. Every backend
    hears a clip before the next clip: the versions adapted from one whisper model share its
    encoder, which then runs once a clip."""
    hyps: dict[str, list[str]] = {label: [] for label in backends}
    for pcm in clips:
        for label, backend in backends.items():
            hyps[label].append(without_wake_words(backend.transcribe(pcm).text))
    return hyps


def external_row(
    label: str, hyps: Sequence[str], clips: Sequence[tuple[str, np.ndarray]]
) -> ExternalRow:
    """WER of transcripts ``hyps`` of the spoken external requests."""
    return ExternalRow(label, wer([text for text, _ in clips], hyps))


def without_wake_words(text: str, keywords: Sequence[str] = WAKE_WORDS) -> str:
    """A transcript with the wake words taken out, as the pipeline leaves requests."""
    drop = {k.casefold() for k in keywords}
    return " ".join(w for w in text.split() if w.casefold().strip(",.!?") not in drop)


def asr_row(
    label: str, hyps: Sequence[str], clips: Sequence[EvalClip], version_id: str | None = None
) -> AsrRow:
    """WER of transcripts ``hyps`` of ``clips``, overall and per sampling reason."""
    refs = [without_wake_words(c.example.transcript) for c in clips]
    reasons = [c.example.clip.reason for c in clips]
    per = by_group(reasons, lambda idx: wer([refs[i] for i in idx], [hyps[i] for i in idx]))
    return AsrRow(label, version_id, wer(refs, hyps), per, tuple(hyps))


def score_nlu(
    label: str, model: IntentModel, examples: Sequence[Example], version_id: str | None = None
) -> NluRow:
    """Intent accuracy and macro-F1 of ``model`` on the reviewed transcripts of ``examples``."""
    labelled = [e for e in examples if e.intent]
    truth = [str(e.intent) for e in labelled]
    predicted = [model.predict(without_wake_words(e.transcript)).intent for e in labelled]
    reasons = [e.clip.reason for e in labelled]
    per = by_group(reasons, lambda idx: float(np.mean([truth[i] == predicted[i] for i in idx])))
    return NluRow(label, version_id, intent_score(truth, predicted), per)


def _check_disjoint(
    session: Session, version_ids: Sequence[str], examples: Sequence[Example]
) -> None:
    held = {e.clip.recording_id for e in examples}
    if not held or not version_ids:
        return
    overlap = session.scalars(
        select(Lineage.version_id).where(
            Lineage.version_id.in_(version_ids), Lineage.recording_id.in_(held)
        )
    ).first()
    if overlap is not None:
        raise Conflict(
            f"{overlap} was trained on held-out clips; it cannot be evaluated here",
            code="split_leak",
        )


def evaluate(
    platform: Platform,
    *,
    heldout_percent: int = HELDOUT_PERCENT,
    include_retired: bool = False,
    baselines: dict[str, str] | None = None,
    now: datetime | None = None,
    recogniser: str | None = None,
    external_voices: Sequence[str] = HELDOUT_VOICES,
) -> Evaluation:
    """Score the baselines and every (non-retired) model version on the held-out split, and the
    recognisers on the external held-out set in ``external_voices`` (none: not run; also skipped
    without espeak-ng).

    ASR versions are scored as adaptations of ``recogniser`` (default: the configured one).
    """
    recogniser = recogniser or platform.settings.asr
    clips, found = load_heldout(platform, heldout_percent=heldout_percent)
    examples = [c.example for c in clips]
    with platform.sessions() as session:
        versions = [
            v
            for v in list_versions(session)
            if include_retired or v.state != VersionState.RETIRED.value
        ]
        _check_disjoint(session, [v.id for v in versions], examples)
    backends = {
        label: asr_from_spec(spec)
        for label, spec in (baselines or baselines_for(recogniser)).items()
    }
    backends.update(
        (f"{v.id} ({v.state})", asr_from_spec(adapted_spec(recogniser, v.path)))
        for v in versions
        if v.kind == ModelKind.ASR.value
    )
    ids = {f"{v.id} ({v.state})": v.id for v in versions}
    heard = transcripts(backends, [c.pcm for c in clips])
    asr = [asr_row(label, heard[label], clips, ids.get(label)) for label in backends]
    spoken: list[tuple[str, np.ndarray]] = []
    if external_voices and espeak_available():
        spoken = external_clips(SileroVad(), external_voices)
    heard = transcripts(backends, [pcm for _, pcm in spoken])
    external = [external_row(label, heard[label], spoken) for label in backends] if spoken else []
    nlu = [score_nlu("default (seed)", default_intent_model(), examples)]
    nlu += [
        score_nlu(f"{v.id} ({v.state})", IntentModel.load(Path(v.path)), examples, v.id)
        for v in versions
        if v.kind == ModelKind.NLU.value
    ]
    reasons = by_group([e.clip.reason for e in examples], lambda idx: float(len(idx)))
    return Evaluation(
        now or utcnow(),
        len(clips),
        {k: int(v) for k, v in reasons.items()},
        asr,
        nlu,
        {"same_sentence": found.same_sentence, "same_household": found.same_household},
        external,
        len(spoken),
    )
