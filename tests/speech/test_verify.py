"""The second listen before a voice deletion: when it runs, what it may take, and through whisper."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from overheard.speech.asr import Transcript, Word
from overheard.speech.guard import DeletionGuard, Verdict
from overheard.speech.nlu import default_intent_model
from overheard.speech.verify import SWAPPED_VERBS, best_deletion, hints_at_deletion, verb_swaps

GUARD = DeletionGuard()


@dataclass(frozen=True)
class Scored:
    """A reading as a recogniser's ``readings`` returns it (text, summed log probability, words)."""

    text: str
    logprob: float
    words: tuple[Word, ...]


def scored(text: str, logprob: float, confidence: float = 0.7) -> Scored:
    words = tuple(Word(w, i * 0.3, i * 0.3 + 0.25, confidence) for i, w in enumerate(text.split()))
    return Scored(text, logprob, words)


@pytest.fixture(scope="module")
def model():
    return default_intent_model()


def test_a_misheard_verb_is_recovered_and_waits_for_a_yes(model):
    first = "there is what i just asked"
    readings = [scored(first, -8.0), scored("erase what i just asked", -9.5)]
    found = best_deletion(GUARD, model, readings, first, "whisper", 1.6)
    assert found is not None
    assert found.verdict.command == "delete_last"
    assert found.verdict.confirm  # a reading the first pass did not hear never deletes unasked
    assert found.margin_nats == pytest.approx(-1.5)


def test_a_deletion_much_less_likely_than_what_was_heard_is_not_taken(model):
    first = "what's the weather like in paris"
    readings = [scored(first, -4.0), scored("delete what i said in paris", -4.0 - 4.5)]
    assert best_deletion(GUARD, model, readings, first, "whisper", 2.0) is None
    lenient = DeletionGuard(verify_margin_nats=5.0)
    assert best_deletion(lenient, model, readings, first, "whisper", 2.0) is not None


def test_other_objects_and_low_confidence_stay_refused(model):
    first = "delete my shopping list"
    other = best_deletion(GUARD, model, [scored(first, -3.0)], first, "whisper", 1.2)
    assert other is not None and other.verdict.command is None
    assert other.verdict.reason in {"other_object", "not_a_command"}
    unsure = "forget what i just said"
    weak = [scored(unsure, -6.0, confidence=GUARD.verified_floor - 0.05)]
    found = best_deletion(GUARD, model, weak, unsure, "whisper", 1.2)
    assert found is not None and found.verdict.reason == "asr_unsure"


def test_an_obeyable_reading_wins_over_a_likelier_refused_one(model):
    first = "the raise my last request"
    readings = [
        scored(first, -7.0),
        scored("delete my last alarm", -7.2),
        scored("erase my last request", -8.0),
    ]
    found = best_deletion(GUARD, model, readings, first, "whisper", 1.5)
    assert found is not None and found.transcript.text == "erase my last request"


def test_a_reading_likelier_than_the_first_pass_has_lower_confidence_floors(model):
    first = "delete that rick west"  # Whisper base on a tuning voice saying "delete that request"
    better = [scored(first, -9.0, 0.27), scored("delete that request", -6.0, 0.16)]
    found = best_deletion(GUARD, model, better, first, "whisper", 1.2)
    assert found is not None and found.verdict.command == "delete_last" and found.verdict.confirm
    worse = [scored(first, -9.0, 0.27), scored("delete that request", -9.5, 0.16)]
    found = best_deletion(GUARD, model, worse, first, "whisper", 1.2)
    assert found is not None and found.verdict.reason == "asr_unsure"  # verified_floor applies
    strict = DeletionGuard(likelier_floor=0.4)
    assert best_deletion(strict, model, better, first, "whisper", 1.2).verdict.command is None
    # the first pass's own reading (margin 0) is not "likelier": it keeps the verified floor
    alone = [scored("delete that request", -6.0, 0.16)]
    found = best_deletion(GUARD, model, alone, "delete that request", "whisper", 1.2)
    assert found is not None and found.verdict.command is None


def test_a_sure_intent_outranks_a_weak_one_nearly_as_likely(model):
    first = "forget anything i asked you today"
    readings = [
        scored(first, -10.0, 0.63),
        scored("forget everything i asked you to make", -9.8, 0.6),
    ]
    weak = model.predict("forget everything i asked you to make")
    sure = model.predict(first)
    assert sure.intent == "delete_today" and sure.confidence > weak.confidence
    found = best_deletion(GUARD, model, readings, first, "whisper", 1.8)
    assert found is not None and found.verdict.command == "delete_today"


def test_readings_outside_the_margin_are_never_taken(model):
    first = "the race recording on what i just said"
    readings = [scored(first, -5.0), scored("erase the recording of what i just said", -32.0)]
    assert best_deletion(GUARD, model, readings, first, "whisper", 2.0) is None


@pytest.mark.parametrize(
    ("text", "first", "speech_s", "expected"),
    [
        ("delete what i just said", Verdict(None, "asr_unsure"), 1.4, True),
        ("delete that", Verdict("delete_last", "obeyed", confirm=True), 0.8, True),
        ("delete what i just said", Verdict("delete_last", "obeyed"), 1.4, False),  # obeyed already
        ("delete what i just said", Verdict(None, "asr_unsure"), 6.0, False),  # too long to be one
        ("delete my morning alarm", Verdict(None, "other_object"), 1.5, False),
        ("what's the weather like in paris tomorrow", Verdict(None, "not_a_command"), 2.0, False),
    ],
)
def test_which_first_passes_are_listened_to_again(model, text, first, speech_s, expected):
    assert hints_at_deletion(GUARD, model, first, text, speech_s) is expected


def heard(text: str, confidence: float, model: str = "whisper") -> Transcript:
    words = tuple(Word(w, i * 0.3, i * 0.3 + 0.25, confidence) for i, w in enumerate(text.split()))
    return Transcript(text, words, confidence, model)


def test_an_unsure_first_pass_without_a_hint_is_listened_to_again(model):
    # Whisper base on a tuning voice saying "delete that request": no deletion word, and the
    # intent model gives the deletion intents 0.13 together (under the hint floor)
    text, first = "believe not rick west", Verdict(None, "not_a_command")
    unsure = DeletionGuard(verify_unsure=True)
    assert not hints_at_deletion(GUARD, model, first, text, 1.3, heard(text, 0.61))
    assert hints_at_deletion(unsure, model, first, text, 1.3, heard(text, 0.61))
    # whisper's utterance floor (0.75) decides; a recogniser nobody measured has a stricter one
    assert not hints_at_deletion(unsure, model, first, text, 1.3, heard(text, 0.8))
    assert hints_at_deletion(unsure, model, first, text, 1.3, heard(text, 0.8, "other"))


@pytest.mark.parametrize(
    ("text", "first", "speech_s"),
    [
        ("believe not rick west", Verdict(None, "not_a_command"), 6.0),  # too long to be one
        (
            "the weather in paris and then the weather in rome and in london",
            Verdict(None, "not_a_command"),
            4.0,
        ),
        ("yes", Verdict(None, "not_a_command"), 0.4),  # an answer, not a request
        ("believe my morning alarm", Verdict(None, "other_object"), 1.5),
        ("delete that", Verdict("delete_last", "obeyed"), 0.8),  # obeyed already
    ],
)
def test_an_unsure_first_pass_is_still_not_listened_to_when_it_cannot_be_a_command(
    model, text, first, speech_s
):
    unsure = DeletionGuard(verify_unsure=True)
    assert not hints_at_deletion(unsure, model, first, text, speech_s, heard(text, 0.3))


def test_the_options_of_the_second_listen_are_settings():
    from overheard.config import Settings
    from overheard.speech.pipeline import stack_from_settings

    default = stack_from_settings(Settings()).guard
    # measured over 2,126 ordinary clips (docs/models/nlu.md): verb swaps on, unsure passes off
    assert default.verify_verb_swaps and not default.verify_unsure
    assert default == DeletionGuard()  # the settings and the guard's own defaults agree
    flipped = stack_from_settings(
        Settings(voice_delete_verify_unsure=True, voice_delete_verify_verb_swaps=False)
    ).guard
    assert flipped.verify_unsure and not flipped.verify_verb_swaps


def test_the_second_listen_can_be_turned_off(model):
    first = Verdict(None, "asr_unsure")
    assert not hints_at_deletion(DeletionGuard(verify=False), model, first, "delete that", 0.8)
    assert not hints_at_deletion(DeletionGuard(confirm="never"), model, first, "delete that", 0.8)


def test_a_verb_swap_is_weighed_with_its_own_margin(model):
    first = "believe in everything i ask today"
    swap = scored("delete everything i ask today", -10.0 - 5.0)
    narrow = DeletionGuard(verify_swap_margin_nats=4.0)
    assert (
        best_deletion(narrow, model, [scored(first, -10.0)], first, "whisper", 1.6, [swap]) is None
    )
    wide = DeletionGuard(verify_swap_margin_nats=6.0, verify_margin_nats=4.0)
    found = best_deletion(wide, model, [scored(first, -10.0)], first, "whisper", 1.6, [swap])
    assert found is not None and found.verdict.command == "delete_today"
    assert found.verdict.confirm  # found by the second listen: it waits for a yes
    prompted = [scored(first, -10.0), swap]  # the same reading from the prompted decode
    assert best_deletion(wide, model, prompted, first, "whisper", 1.6) is None


def test_verb_swaps_put_a_deletion_verb_in_place_of_the_first_words():
    swaps = verb_swaps("race everything i sent today")
    assert "erase everything i sent today" in swaps  # the misheard verb replaced, the rest kept
    assert "delete race everything i sent today" in swaps  # a verb not heard at all
    assert "wipe i sent today" in swaps  # two words heard for one verb
    assert "race everything i sent today" not in swaps
    assert len(swaps) == len(set(swaps)) == 3 * len(SWAPPED_VERBS)


def test_verb_swaps_keep_or_replace_polite_words_and_never_leave_a_verb_alone():
    swaps = verb_swaps("please race my last request")
    assert {"please erase my last request", "erase my last request"} <= set(swaps)
    assert all(len(s.split()) >= 2 for s in verb_swaps("you believe"))
    assert verb_swaps("please") == tuple(f"{verb} please" for verb in SWAPPED_VERBS)


@pytest.fixture(scope="module")
def whisper_stack():
    from overheard.demo import espeak_available
    from overheard.speech.pipeline import SpeechStack

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    pytest.importorskip("faster_whisper")
    return SpeechStack("openwakeword", "", 0.5, ("alexa",), "whisper")


def spoken(text: str, voice: str) -> np.ndarray:
    from overheard.demo import synthesise

    rng = np.random.default_rng(7)
    pcm = synthesise(text, voice).astype(np.float64)
    padded = np.concatenate([np.zeros(3200), pcm, np.zeros(3200)])
    padded += rng.normal(0, 0.002 * 32767, padded.size)
    return np.clip(padded, -32768, 32767).astype(np.int16)


@pytest.mark.slow
def test_whisper_scores_the_first_reading_and_prompted_ones(whisper_stack):
    asr = whisper_stack.asr
    pcm = spoken("forget the question i just asked", "en+f3")
    readings = asr.readings(pcm, "Delete what I just said.", ("forget the question i just asked",))
    assert readings[0].text == "forget the question i just asked"
    assert all(r.logprob < 0 and r.words for r in readings)
    assert len({r.text for r in readings}) == len(readings)  # each reading once
    wrong = asr.readings(pcm, "Delete what I just said.", ("play some jazz in the kitchen",))
    assert wrong[0].logprob < readings[0].logprob - 10  # the plain decoder is not talked into it


@pytest.mark.slow
def test_whisper_keeps_only_the_swaps_within_the_margin(whisper_stack):
    pcm = spoken("erase everything i said today", "en-us")
    heard = "race everything i said today"
    texts = ("erase everything i said today", "play some jazz in the kitchen")
    kept = whisper_stack.asr.likely_readings(pcm, heard, texts, 8.0)
    assert [r.text for r in kept] == ["erase everything i said today"]
    assert kept[0].words and kept[0].logprob < 0
    assert whisper_stack.asr.likely_readings(pcm, heard, texts, 0.0) in ([], kept)


GARBLED_FIRST = (
    ("please delete everything from today", "en+f3"),
    ("erase everything i said today", "en-us"),
)
"""Requests Whisper base first hears past any deletion ("please believe in anything from today",
"race everything i said today"); which of them it garbles moves with the CPU's int8 kernels."""


@pytest.mark.slow
def test_the_pipeline_asks_about_what_the_second_listen_finds(whisper_stack):
    from overheard.speech.pipeline import understand

    recovered = []
    for text, voice in GARBLED_FIRST:
        pcm = spoken(text, voice)
        first = understand(whisper_stack, pcm, listen_again=False)
        assert first.verdict is not None
        if first.verdict.command is not None:
            continue  # heard right the first time here: nothing for the second listen to find
        outcome = understand(whisper_stack, pcm)
        assert outcome.verdict is not None
        if outcome.verdict.command is not None:
            assert outcome.verdict.confirm and outcome.question() is not None  # asked, not done
            recovered.append(text)
    assert recovered, "the second listen found none of the garbled deletions"


@pytest.mark.slow
def test_the_second_listen_finds_no_deletion_in_an_ordinary_request(whisper_stack):
    from overheard.speech.pipeline import understand

    outcome = understand(whisper_stack, spoken("what's the weather like in paris", "en+f3"))
    assert outcome.verdict is not None and outcome.verdict.command is None


def _byte_level_bpe(merges: list[str]):
    """A small byte-level BPE tokenizer (the ``tokenizers`` library) with the given merges."""
    tokenizers = pytest.importorskip("tokenizers")
    tokens = ["Ġ", "t", "h", "e", "a", "Ġt", "th", "Ġth", "Ġthe", "Ġa"]  # ids in merge order
    vocab = {token: i for i, token in enumerate(tokens)}
    bpe = tokenizers.models.BPE(vocab=vocab, merges=[tuple(m.split()) for m in merges])
    tok = tokenizers.Tokenizer(bpe)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    return tok


def test_a_tokenizer_missing_a_merge_gets_it_back_in_vocabulary_order():
    from overheard.speech._whisper import with_every_merge

    whole = _byte_level_bpe(["Ġ t", "t h", "Ġt h", "Ġth e", "Ġ a"])
    broken = _byte_level_bpe(["t h", "Ġt h", "Ġth e", "Ġ a"])  # the first merge lost
    assert broken.encode(" the").tokens != ["Ġthe"]  # " ", "the"-ish: a token whisper never writes
    mended = with_every_merge(broken)
    assert mended.encode(" the").tokens == whole.encode(" the").tokens == ["Ġthe"]
    assert with_every_merge(whole) is whole  # nothing missing: left as it is


@pytest.mark.slow
def test_whisper_scores_readings_in_the_tokens_it_writes(whisper_stack):
    """The default model's tokenizer.json lacks the merge "Ġ t": " that" was encoded as " ",
    "that", which the decoder scores near 0, so every reading with a word starting in "t" lost
    ~20 nats and its words' probabilities."""
    from faster_whisper.tokenizer import Tokenizer

    from overheard.speech._whisper import with_every_merge

    model = whisper_stack.asr._loaded.model
    tokenizer = Tokenizer(with_every_merge(model.hf_tokenizer), True, "transcribe", "en")
    for word in ("that", "today", "the", "thing"):
        assert len(tokenizer.encode(" " + word)) == 1, word
    pcm = spoken("erase that last thing i said", "en-us")
    said, garbled = "erase that last thing i said", "erase my last thing i said"
    readings = {r.text: r for r in whisper_stack.asr.readings(pcm, "", (said, garbled))}
    assert min(w.confidence for w in readings[said].words) > 0.05  # "that" was heard at ~0
    assert readings[said].logprob > readings[garbled].logprob
