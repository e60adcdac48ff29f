"""A second listen before a voice deletion: is the clip as likely a deletion as what was first heard?

The first decode of a short request can mishear a deletion ("erase what i just asked" as "there is
what i just asked") or hear it right at a confidence under the guard's floor. When the first pass
*hints* at a deletion (:func:`hints_at_deletion`), the clip is decoded again with deletion commands
said before it (a whisper prompt: the decoder expects a command of that kind) and every reading —
the first pass and the prompted n-best — is scored by the *plain* decoder, teacher-forced, with no
prompt. A prompt can make a decoder hear a command in any clip; the plain score cannot be talked
into it. A deletion reading is taken only when the plain decoder finds it nearly as likely as what
it heard first (:attr:`~overheard.speech.guard.DeletionGuard.verify_margin_nats`), and a deletion
taken this way always waits for a spoken yes. The prompted decode may bring a misheard verb back but
rewrite the rest of the request with it; so what was first heard is also scored with a deletion verb
in place of its first words (:func:`verb_swaps`), within a margin of its own
(:attr:`~overheard.speech.guard.DeletionGuard.verify_swap_margin_nats`). Measured in
docs/models/nlu.md (``benchmarks/voice_delete.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .asr import AsrBackend, Transcript, Word
from .guard import CONFIRMATIONS, POLITE, DeletionGuard, Verdict, judge, mended, words_of
from .nlu import DELETION_WORDS, PRIVACY_INTENTS, IntentModel, Interpretation

COMMAND_PROMPT = (
    "Delete what I just said. Forget that. Erase everything I said today. Remove my last request."
)
"""What the second decode hears before the clip: seed deletion requests (the training phrasings)."""


SWAPPED_VERBS = ("delete", "forget", "erase", "remove", "wipe", "clear", "scrap", "discard")
"""The one-word deletion verbs (:data:`~overheard.speech.nlu.DELETION_WORDS`) a swap puts at the
start of what was heard (:func:`verb_swaps`)."""
SWAPPED_WORDS = 2
"""Most words at the start of what was heard that a swapped-in verb replaces (0 to this many)."""


class Rereading(Protocol):
    """A recogniser that can decode a clip again under a prompt and score readings of it."""

    def readings(self, pcm: np.ndarray, prompt: str, texts: tuple[str, ...]) -> list[Reading]: ...

    def likely_readings(
        self, pcm: np.ndarray, heard: str, texts: tuple[str, ...], within_nats: float
    ) -> list[Reading]: ...


class Reading(Protocol):
    """One scored reading (see ``overheard.speech._whisper.Reading``)."""

    text: str
    logprob: float
    """Natural log, summed over tokens, under the plain decoder."""
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Verification:
    """The second listen's best deletion reading, and how it compares with the first."""

    transcript: Transcript
    """The deletion reading, with the plain decoder's word probabilities."""
    interpretation: Interpretation
    margin_nats: float
    """Plain-decoder log probability of the deletion reading minus that of the first pass's."""
    verdict: Verdict
    """The guard's verdict on the reading (its floors for verified readings; always a yes)."""


def can_verify(asr: AsrBackend) -> bool:
    """Whether the recogniser supports a second, prompted listen (faster-whisper does)."""
    return callable(getattr(asr, "readings", None))


def hints_at_deletion(
    guard: DeletionGuard,
    model: IntentModel,
    first: Verdict,
    text: str,
    speech_s: float,
    transcript: Transcript | None = None,
) -> bool:
    """Whether a first pass is worth a second listen: short, not already obeyed outright, and either
    a deletion word heard, deletion intents given at least ``verify_hint_floor`` probability, or
    (``verify_unsure``) the recogniser unsure of ``transcript``, the first pass."""
    if not guard.verify or guard.confirm == "never" or speech_s > guard.max_speech_s:
        return False
    if first.command is not None and not first.confirm:
        return False
    if first.reason in ("other_object", "too_long", "shape"):
        return False
    words = words_of(mended(text))
    if not words or len(words) > guard.max_words + 2 or " ".join(words) in CONFIRMATIONS:
        return False
    if DELETION_WORDS.search(" ".join(words)):
        return True
    if guard.verify_unsure and transcript is not None and _unsure(guard, transcript):
        return True
    return privacy_probability(model, " ".join(words)) >= guard.verify_hint_floor


def _unsure(guard: DeletionGuard, transcript: Transcript) -> bool:
    """Whether the recogniser heard ``transcript`` under its own utterance floor."""
    return transcript.confidence < guard.floors(transcript.model).utterance


def privacy_probability(model: IntentModel, text: str) -> float:
    """The probability the intent model gives the deletion intents together."""
    probs = model.probabilities([text.lower()])[0]
    return float(
        sum(p for name, p in zip(model.intents, probs, strict=True) if name in PRIVACY_INTENTS)
    )


def verify(
    guard: DeletionGuard,
    asr: Rereading,
    model: IntentModel,
    pcm: np.ndarray,
    first: Transcript,
    speech_s: float,
    first_text: str,
) -> Verification | None:
    """The best deletion reading of ``pcm`` the guard would act on (after a yes), or None."""
    plain = " ".join(words_of(first_text))
    readings = asr.readings(pcm, COMMAND_PROMPT, (plain,) if plain else ())
    swapped: list[Reading] = []
    if guard.verify_verb_swaps and plain:
        swaps = verb_swaps(plain)
        swapped = asr.likely_readings(pcm, plain, swaps, guard.verify_swap_margin_nats)
    return best_deletion(guard, model, readings, plain, first.model, speech_s, swapped)


def verb_swaps(plain: str) -> tuple[str, ...]:
    """What was heard with a deletion verb (:data:`SWAPPED_VERBS`) in place of its first words
    (none to :data:`SWAPPED_WORDS` of them, at the start or after any of its polite words): the
    readings a misheard verb hides ("race everything i sent today" -> "erase everything i sent
    today"; "you believe what i said" -> "delete what i said"). The prompted decode may bring the
    verb back but rewrite the rest; a swap changes only the verb, so the plain decoder's margin
    weighs the verb alone."""
    words = plain.split()
    polite = next((i for i, w in enumerate(words) if w not in POLITE), len(words))
    swaps = [
        " ".join([*words[:start], verb, *words[start + k :]])
        for start in range(min(polite, len(words) - 1) + 1)
        for k in range(min(SWAPPED_WORDS, len(words) - start - 1) + 1)
        for verb in SWAPPED_VERBS
    ]
    return tuple(t for t in dict.fromkeys(swaps) if t != plain)


def best_deletion(
    guard: DeletionGuard,
    model: IntentModel,
    readings: list[Reading],
    plain: str,
    recogniser: str,
    speech_s: float,
    swapped: list[Reading] | tuple[Reading, ...] = (),
) -> Verification | None:
    """The likeliest obeyable deletion among ``readings`` within the margin of the first pass's
    reading ``plain`` and among the verb swaps ``swapped`` within theirs, or None."""
    heard = next((r.logprob for r in readings if r.text == plain), None)
    best: Verification | None = None
    limits = [guard.verify_margin_nats] * len(readings)
    limits += [guard.verify_swap_margin_nats] * len(swapped)
    for reading, limit in zip([*readings, *swapped], limits, strict=True):
        if not DELETION_WORDS.search(mended(reading.text)) or not reading.words:
            continue
        margin = -math.inf if heard is None else reading.logprob - heard
        if margin < -limit:
            continue
        transcript = as_transcript(reading, recogniser)
        interp = model.predict(mended(reading.text))
        verdict = judge(
            guard, interp, transcript, speech_s, reading.text, verified=True, likelier=margin > 0
        )
        found = Verification(transcript, interp, margin, verdict)
        if best is None or _better(found, best):
            best = found
    return best


def as_transcript(reading: Reading, model: str) -> Transcript:
    """A reading as a transcript: utterance confidence = the mean word probability."""
    confidence = float(np.mean([w.confidence for w in reading.words])) if reading.words else 0.0
    return Transcript(reading.text, tuple(reading.words), confidence, model)


def _better(a: Verification, b: Verification) -> bool:
    """Obeyable readings first, then the likelier reading *and* intent together: the margin plus
    the log of the intent probability ("forget everything i asked you to make", a weak
    ``delete_last``, does not beat a nearly as likely, sure ``delete_today`` reading)."""
    return (a.verdict.command is not None, _joint(a)) > (b.verdict.command is not None, _joint(b))


def _joint(found: Verification) -> float:
    return found.margin_nats + math.log(max(found.interpretation.confidence, 1e-9))
