"""A clip the pipeline heard as words that are no command (an answer to a deletion question, or
not), stored as the pipeline stores it: the answer is acted on in that transaction."""

from __future__ import annotations

import numpy as np

from overheard.db import utcnow
from overheard.platform import Platform
from overheard.recordings.models import Status
from overheard.speech import pipeline
from overheard.speech.asr import Transcript, Word
from overheard.speech.guard import DeletionGuard, Verdict, answer_of
from overheard.speech.pipeline import Outcome


def heard(text: str, confidence: float) -> Outcome:
    """The pipeline's outcome of a clip that is no command, heard as ``text`` at ``confidence``
    (every word), with the answer the default guard reads in it."""
    words = tuple(Word(w, 0.3 * i, 0.3 * i + 0.25, confidence) for i, w in enumerate(text.split()))
    transcript = Transcript(text, words, confidence, "whisper")
    return Outcome(Status.TRANSCRIBED, None, 0.3 * len(words), transcript=transcript,
                   verdict=Verdict(None, "not_a_command"),
                   answer=answer_of(DeletionGuard(), transcript, text))  # fmt: skip


def store_heard(platform: Platform, recording_id: str, outcome: Outcome) -> None:
    """Store ``outcome`` for the recording as the pipeline job does (nothing trimmed), then what the
    job does after that commit."""
    pipeline._store(platform, recording_id, outcome, np.zeros(0, np.int16), utcnow())
    pipeline._obey_privacy_command(platform, recording_id, outcome)
