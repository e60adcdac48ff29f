"""What the device says next: the question before an asked deletion, the re-ask after an unclear
answer, "nothing was deleted" after a no (``Outcome.summary()["say"]``, as ``overheard transcribe
--answering`` prints it)."""

from __future__ import annotations

import pytest

from overheard.recordings.models import Status
from overheard.speech.asr import Transcript, Word
from overheard.speech.guard import DeletionGuard, Verdict, answer_of
from overheard.speech.pipeline import Outcome
from overheard.speech.questions import DECLINED, QUESTION, REASK


def heard(text: str, confidence: float, verdict: Verdict) -> Outcome:
    words = tuple(Word(w, 0.3 * i, 0.3 * i + 0.25, confidence) for i, w in enumerate(text.split()))
    transcript = Transcript(text, words, confidence, "whisper")
    answer = answer_of(DeletionGuard(), transcript, text) if verdict.command is None else None
    return Outcome(Status.TRANSCRIBED, None, 0.3 * len(words), transcript=transcript,
                   verdict=verdict, answer=answer)


NOT_A_COMMAND = Verdict(None, "not_a_command")


@pytest.mark.parametrize(
    ("text", "confidence", "asked", "answer", "say"),
    [
        ("yes", 0.05, "delete_today", "unclear", REASK["delete_today"]),
        ("you", 0.05, "delete_last", "unclear", REASK["delete_last"]),
        ("yes", 0.05, None, "unclear", None),  # nothing was asked: nothing to ask again
        ("yes please", 0.9, "delete_last", "yes", None),
        ("no", 0.1, "delete_last", "no", DECLINED["delete_last"]),  # said once, nothing asked
        ("cancel", 0.9, "delete_today", "no", DECLINED["delete_today"]),
        ("no", 0.9, None, "no", None),  # nothing was asked: nothing to acknowledge
        ("turn on the kitchen lights please", 0.3, "delete_last", "other", None),
    ],
)
def test_an_unclear_answer_is_asked_again_in_its_own_words(text, confidence, asked, answer, say):
    outcome = heard(text, confidence, NOT_A_COMMAND)
    summary = outcome.summary(asked)
    assert summary["answer"] == answer and summary["say"] == say


def test_a_deletion_held_for_a_yes_says_its_question():
    asked = heard("delete that", 0.9, Verdict("delete_last", "obeyed", True))
    assert asked.summary()["say"] == QUESTION["delete_last"] and asked.summary()["answer"] is None
    assert asked.question("delete_today") == QUESTION["delete_last"]  # a new question comes first
