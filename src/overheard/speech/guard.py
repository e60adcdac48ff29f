"""The guard in front of destructive voice commands ("forget what I just said", "delete that").

A wrong deletion loses data; a missed one can be said again. So a deletion is obeyed only when every
check below passes: the intent model is sure (a floor stricter than for other intents), the
recogniser is sure of the utterance and of every word it heard, and the utterance has the shape of a
command — short, spoken on its own right after the wake word, the deletion verb near the start, no
long trailing speech. A deletion that does not name what was said ("delete that", "forget that" —
the very words people use about a list item or a message) is only carried out after the household
answers the spoken question with a yes (:func:`is_confirmation`). The thresholds and the benchmark
that measured them are in docs/models/nlu.md (``benchmarks/voice_delete.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .asr import Transcript
from .nlu import DELETION_WORDS, PRIVACY_INTENTS, Interpretation, PrivacyCommand
from .questions import DECLINED as DECLINED
from .questions import QUESTION as QUESTION
from .questions import REASK as REASK

REFUSALS = (
    "not_a_command",
    "other_object",
    "intent_unsure",
    "asr_unsure",
    "word_unsure",
    "too_long",
    "shape",
)
"""Why a deletion-looking request was not obeyed (written to the audit log)."""
OTHER_OBJECT = re.compile(
    r"\b(items?|entry|entries|events?|meetings?|appointments?|alarms?|timers?|reminders?|lists?"
    r"|lines?|e-?mails?|messages?|texts?|notes?|songs?|playlists?|contacts?|calendar|files?"
    r"|photos?|pictures?|tasks?|orders?|typed|wrote|written|numbers?)\b"
)
"""Things other than recordings a request may ask to delete ("delete my morning alarm")."""
SPEECH_OBJECT = re.compile(
    r"\b(said|asked|told|heard|recorded|recordings?|requests?|questions?|commands?|history"
    r"|voice|conversation)\b"
)
"""Words that name what was said: a request with one may pass at the lower intent floor."""
POLITE = frozenset(
    "please can could would will you just now ok okay hey oh and so alright right yes".split()
)
"""The only words allowed before the deletion verb ("could you please forget that")."""
CONFIRMATIONS = frozenset(
    {"yes", "yes please", "yes delete it", "yes do it", "yes forget it", "yes confirm", "confirm"}
)
"""The whole answers taken as a yes to "Delete your last recording?" (nothing else is)."""
REFUSING_ANSWERS = frozenset(
    {"no", "no thanks", "no thank you", "cancel", "stop", "don't", "keep it"}
)
"""Answers that are a no, however unsure the recogniser is of them: the deletion is dropped for good
(a wrong no costs only saying the command again), never asked again."""
Answer = Literal["yes", "no", "unclear", "other"]
SPLIT_WORDS = {
    ("every", "thing"): "everything",
    ("any", "thing"): "anything",
    ("to", "day"): "today",
    ("to", "day's"): "today's",
    ("to", "days"): "today's",
    ("for", "get"): "forget",
    ("re", "move"): "remove",
    ("e", "rase"): "erase",
    ("de", "lete"): "delete",
    ("dis", "card"): "discard",
    ("what", "ever"): "whatever",
}
"""Words a recogniser may write in two pieces ("delete every thing i said to day"), mended before a
request is judged: a general rule about compounds and split syllables, not a list of misses."""
ConfirmPolicy = Literal["never", "unnamed", "always"]


@dataclass(frozen=True)
class ConfidenceFloors:
    """How sure a recogniser must be, on its own scale, before a deletion is obeyed."""

    utterance: float
    """Least utterance confidence, 0..1."""
    verb: float
    """Least confidence of the recognised deletion verb ("delete", "forget"...), 0..1."""


RECOGNISER_FLOORS = {
    "whisper": ConfidenceFloors(utterance=0.75, verb=0.5),
    "pocketsphinx": ConfidenceFloors(utterance=0.6, verb=0.8),
}
"""Per recogniser family, since their confidences are not on one scale. Set from a handful of seed
deletion clips, not tuned on the benchmark; how they fare is measured in docs/models/nlu.md."""
STRICTEST = ConfidenceFloors(utterance=0.9, verb=0.9)
"""For a recogniser nobody measured."""


@dataclass(frozen=True)
class DeletionGuard:
    """Thresholds a voice deletion must pass."""

    intent_floor: float = 0.9
    """Least intent probability, 0..1, when the request does not name what was said."""
    named_intent_floor: float = 0.6
    """Least intent probability, 0..1, when it does ("erase what you just recorded")."""
    asked_intent_floor: float = 0.5
    """Least intent probability, 0..1, of a deletion that will wait for a spoken yes anyway
    (below the floors above, such a request is asked rather than refused)."""
    utterance_floor: float | None = None
    """Least utterance confidence, 0..1; None = the measured floor of the recogniser in use."""
    verb_floor: float | None = None
    """Least confidence of the deletion verb, 0..1; None = the recogniser's measured floor."""
    max_words: int = 10
    """Most words in the request after the wake word."""
    max_speech_s: float = 4.5
    """Most seconds of speech in the request."""
    verb_within_words: int = 4
    """The deletion verb must start within this many words of the request's start, after only
    polite words (:data:`POLITE`): "i was not clear about what you said" is no command."""
    yes_floor: float = 0.15
    """Least utterance confidence, 0..1, of the spoken yes that confirms an asked deletion: the
    answer to a yes/no question is one short word, which whisper scores low even when it hears it
    right (its probability is shared among "Yes", "Yes." and "Yeah"): from the tuning voices of
    benchmarks/voice_delete.py, a lone "yes" at 0.60-0.81 with Whisper tiny.en but 0.19-0.68 with
    Whisper base ("yes please" 0.79-0.81). Only a whole answer of :data:`CONFIRMATIONS` counts."""
    reask: bool = True
    """Ask once more (:data:`REASK`) after an unclear answer instead of dropping the deletion."""
    reask_floor: float = 0.5
    """An answer of at most two words heard under this utterance confidence, or a plain yes heard
    under ``yes_floor``, is unclear: the device asks once more (:data:`REASK`) rather than drop the
    deletion, and only a sure yes answers that (:func:`answer_of`). Chosen before measuring."""
    verify: bool = True
    """Listen a second time (:mod:`overheard.speech.verify`) to a short request whose first decode
    hints at a deletion, when the recogniser can."""
    verify_verb_swaps: bool = True
    """Also weigh, in the second listen, what the first decode heard with a deletion verb in place
    of its first words (:func:`overheard.speech.verify.verb_swaps`): a misheard verb alone. On by
    default since its run over all 2,126 ordinary clips (0 false deletions, no more questions or
    second listens than without it; docs/models/nlu.md)."""
    verify_swap_margin_nats: float = 6.0
    """How much less likely (natural log, plain decoder) a verb swap may be than what the first
    decode heard: a swap changes the verb alone, and whisper's prior weighs some verbs down at the
    start of a sentence ("Erase" under "Race")."""
    verify_hint_floor: float = 0.2
    """Least probability the intent model gives the deletion intents together for a request without
    a deletion word to be listened to again, 0..1."""
    verify_unsure: bool = False
    """Also listen again to a short request that hints at no deletion when the recogniser is unsure
    of it (utterance confidence under its own floor, :meth:`floors`): a command misheard past
    recognition ("believe not rick west" for "delete that request") leaves the intent model nothing
    to hint with, but the recogniser knows it heard badly. What the second listen finds still has to
    pass the plain decoder's margin and waits for a spoken yes. Off by default: over all 2,126
    ordinary clips it deleted nothing but listened again to 1,202 of them instead of 389, for one
    more held-out deletion obeyed in 150 (docs/models/nlu.md)."""
    verify_margin_nats: float = 4.0
    """How much less likely (natural log, plain decoder) a deletion reading of the second listen may
    be than what the first decode heard."""
    verified_floor: float = 0.4
    """Least utterance confidence, 0..1, of a deletion reading taken from the second listen (it
    always waits for a spoken yes); it replaces the recogniser's utterance floor for such a reading."""
    verified_verb_floor: float = 0.1
    """Least confidence, 0..1, of the deletion verb of a reading taken from the second listen."""
    likelier_floor: float = 0.1
    """Least utterance and verb confidence, 0..1, of a second-listen reading the plain decoder finds
    more likely than what the first decode heard (its beam search lost it): the sequence's own
    probability outranks the mean of its word probabilities. It still waits for a spoken yes."""
    confirm: ConfirmPolicy = "unnamed"
    """Which deletions wait for a spoken yes: ``never``, ``unnamed`` (those that do not name what
    was said, :data:`SPEECH_OBJECT`: "delete that") or ``always``."""

    def floors(self, model: str) -> ConfidenceFloors:
        """The confidence floors for transcripts of ``model`` (e.g. ``pocketsphinx:domain``)."""
        measured = RECOGNISER_FLOORS.get(model.partition(":")[0], STRICTEST)
        return ConfidenceFloors(
            measured.utterance if self.utterance_floor is None else self.utterance_floor,
            measured.verb if self.verb_floor is None else self.verb_floor,
        )


@dataclass(frozen=True)
class Verdict:
    """What the guard decided about one request."""

    command: PrivacyCommand | None
    """The deletion to carry out, or None."""
    reason: str
    """``obeyed`` or one of :data:`REFUSALS`."""
    confirm: bool = False
    """True: carry the command out only after a spoken yes (:func:`is_confirmation`)."""


def judge(
    guard: DeletionGuard,
    interp: Interpretation,
    transcript: Transcript | None,
    speech_s: float,
    request_text: str | None = None,
    *,
    verified: bool = False,
    likelier: bool = False,
) -> Verdict:
    """Whether a request is a deletion to obey, and if not, why. ``verified``: the reading comes
    from the second listen (:mod:`overheard.speech.verify`): its own confidence floor, and a yes;
    ``likelier``: such a reading more likely than the first pass's (``likelier_floor``)."""
    if interp.intent not in PRIVACY_INTENTS:
        return Verdict(None, "not_a_command")
    text = request_text if request_text is not None else (transcript.text if transcript else "")
    words = words_of(mended(text))
    plain = " ".join(words)
    if OTHER_OBJECT.search(plain):
        return Verdict(None, "other_object")
    named = SPEECH_OBJECT.search(plain) is not None
    floor = guard.named_intent_floor if named else guard.intent_floor
    confirm = verified or guard.confirm == "always" or (guard.confirm == "unnamed" and not named)
    if interp.confidence < floor and guard.confirm != "never":
        floor, confirm = min(floor, guard.asked_intent_floor), True
    if interp.confidence < floor:
        return Verdict(None, "intent_unsure")
    if len(words) > guard.max_words or speech_s > guard.max_speech_s:
        return Verdict(None, "too_long")
    if not _verb_near_start(words, guard.verb_within_words):
        return Verdict(None, "shape")
    if transcript is None:
        return Verdict(None, "asr_unsure")
    floors = guard.floors(transcript.model)
    if verified:
        floors = ConfidenceFloors(guard.verified_floor, guard.verified_verb_floor)
        if likelier:
            floors = ConfidenceFloors(guard.likelier_floor, guard.likelier_floor)
    if transcript.confidence < floors.utterance:
        return Verdict(None, "asr_unsure")
    if transcript.words and _verb_confidence(transcript) < floors.verb:
        return Verdict(None, "word_unsure")
    return Verdict(interp.intent, "obeyed", confirm)  # type: ignore[arg-type]


def is_confirmation(guard: DeletionGuard, transcript: Transcript | None, request_text: str) -> bool:
    """True when a request is a plain yes (:data:`CONFIRMATIONS`) the recogniser is sure of."""
    if transcript is None or " ".join(words_of(request_text)) not in CONFIRMATIONS:
        return False
    return transcript.confidence >= guard.yes_floor


def answer_of(guard: DeletionGuard, transcript: Transcript | None, request_text: str) -> Answer:
    """What a request says to a waiting deletion question: ``yes`` (:func:`is_confirmation`), ``no``
    (a whole answer of :data:`REFUSING_ANSWERS`, however sure: the deletion is dropped), ``unclear``
    (a yes under ``yes_floor``, or at most two words under ``reask_floor`` that are not a no: worth
    asking once more) or ``other`` (anything else, which leaves the question unanswered)."""
    if transcript is None:
        return "other"
    if is_confirmation(guard, transcript, request_text):
        return "yes"
    words = words_of(request_text)
    said = " ".join(words)
    if said in REFUSING_ANSWERS:
        return "no"
    if not guard.reask or not words:
        return "other"
    if said in CONFIRMATIONS or (len(words) <= 2 and transcript.confidence < guard.reask_floor):
        return "unclear"
    return "other"


def _verb_confidence(transcript: Transcript) -> float:
    """The recogniser's confidence in the first word of the first deletion phrase (0: none); a verb
    the recogniser split in two ("for get") has the lesser confidence of its pieces."""
    merged = _mended_tokens([" ".join(words_of(w.text)) for w in transcript.words])
    tokens = [token for token, _ in merged]
    joined = " ".join(tokens)
    found = DELETION_WORDS.search(joined)
    if found is None:
        return 0.0
    position = 0
    for (token, first), next_first in zip(
        merged, [f for _, f in merged[1:]] + [len(transcript.words)], strict=True
    ):
        if position >= found.start() and token:
            return min(w.confidence for w in transcript.words[first:next_first])
        position += len(token) + 1
    return 0.0


def words_of(text: str) -> list[str]:
    """The lowercase words of ``text``."""
    return re.findall(r"[a-z0-9']+", text.lower())


def mended(text: str) -> str:
    """``text`` with the words a recogniser split in two joined again (:data:`SPLIT_WORDS`)."""
    return " ".join(word for word, _ in _mended_tokens(text.split()))


def _mended_tokens(tokens: list[str]) -> list[tuple[str, int]]:
    """(word, index of its first token) with split words joined; each token compared as spoken."""
    plain = [" ".join(words_of(t)) for t in tokens]
    out: list[tuple[str, int]] = []
    i = 0
    while i < len(tokens):
        joined = SPLIT_WORDS.get((plain[i], plain[i + 1])) if i + 1 < len(tokens) else None
        if joined is not None:
            out.append((joined, i))
            i += 2
        else:
            out.append((tokens[i], i))
            i += 1
    return out


def _verb_near_start(words: list[str], within: int) -> bool:
    """True when a deletion phrase starts the request, after at most ``within`` polite words."""
    plain = " ".join(words)
    found = DELETION_WORDS.search(plain)
    if found is None:
        return False
    before = plain[: found.start()].split()
    return len(before) < within and all(w in POLITE for w in before)
