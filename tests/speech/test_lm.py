"""The ARPA builder and pronunciation dictionary, checked by reading them back and decoding with them."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from pocketsphinx import Decoder

from overheard.speech.lm import build_language_model, letter_to_sound, pronunciations

SENTENCES = [
    "set a timer for ten minutes",
    "set an alarm for seven am",
    "turn on the kitchen lights",
    "turn off the kitchen lights",
    "what's the weather in paris",
    "play some jazz in the kitchen",
    "add milk to my shopping list",
]


def read_arpa(path: Path) -> tuple[dict[int, int], dict[tuple[str, ...], tuple[float, float]]]:
    """Declared counts per order, and n-gram -> (log10 prob, log10 backoff)."""
    declared: dict[int, int] = {}
    grams: dict[tuple[str, ...], tuple[float, float]] = {}
    for line in path.read_text().splitlines():
        if m := re.fullmatch(r"ngram (\d+)=(\d+)", line):
            declared[int(m.group(1))] = int(m.group(2))
        elif line and not line.startswith("\\"):
            fields = line.split("\t")
            backoff = float(fields[2]) if len(fields) > 2 else 0.0
            grams[tuple(fields[1].split())] = (float(fields[0]), backoff)
    return declared, grams


def prob(
    grams: dict[tuple[str, ...], tuple[float, float]], word: str, history: tuple[str, ...]
) -> float:
    if (*history, word) in grams:
        return 10 ** grams[(*history, word)][0]
    if not history:
        return 0.0
    backoff = 10 ** grams[history][1] if history in grams else 1.0
    return backoff * prob(grams, word, history[1:])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    return build_language_model(SENTENCES, tmp_path_factory.mktemp("lm"))


def test_counts_match_sections(built) -> None:
    declared, grams = read_arpa(built.lm_path)
    found: dict[int, int] = defaultdict(int)
    for ngram in grams:
        found[len(ngram)] += 1
    assert declared == dict(found)
    assert set(declared) == {1, 2, 3}
    assert built.lm_path.read_text().rstrip().endswith("\\end\\")


def test_every_history_sums_to_one(built) -> None:
    _, grams = read_arpa(built.lm_path)
    vocabulary = [g[0] for g in grams if len(g) == 1 and g[0] != "<s>"]
    histories = [g for g in grams if len(g) < 3 and g[-1] != "</s>"]
    for history in histories:
        total = sum(prob(grams, w, history) for w in vocabulary)
        assert math.isclose(total, 1.0, abs_tol=1e-3), (history, total)


def test_vocabulary_and_oov(tmp_path: Path) -> None:
    files = build_language_model(["Play Coldplay, please!", "play jazz"], tmp_path)
    assert files.vocabulary_size == 4
    assert files.oov_words == ("coldplay",)
    assert "coldplay K OW L D P L EY" in files.dict_path.read_text().splitlines()


def test_letter_to_sound_fallback() -> None:
    assert letter_to_sound("zorbex") == ["Z", "AO", "R", "B", "EH", "K", "S"]
    assert letter_to_sound("flake") == ["F", "L", "EY", "K"]
    assert pronunciations("hello")[1] is True


def test_empty_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no words"):
        build_language_model(["", "  ?! "], tmp_path)


@pytest.mark.data
def test_model_loads_and_recognises_training_sentence(shared_data: Path, built) -> None:
    """The built files decode real speech: a card-game model recognises its own sentence."""
    import soundfile as sf

    files = build_language_model(
        ["ten of clubs", "seven of hearts", "four queen of clubs"], built.lm_path.parent / "cards"
    )
    decoder = Decoder(lm=str(files.lm_path), dict=str(files.dict_path), loglevel="ERROR")
    pcm, rate = sf.read(shared_data / "asr" / "cards" / "001.wav", dtype="int16")
    assert rate == 16000
    decoder.start_utt()
    decoder.process_raw(np.ascontiguousarray(pcm).tobytes(), full_utt=True)
    decoder.end_utt()
    assert decoder.hyp().hypstr == "ten of clubs"
