"""The intent feature benchmark's pieces: word classes, lemma pairs, pooled token states against
the encoder's own sentence embedding."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

import nlu_features as nf


def test_word_classes_replace_numbers_times_and_days() -> None:
    terms = nf.class_terms("wake me at 6:30 am on monday for twenty minutes")
    assert {"TIME", "DAY", "NUM", "UNIT"} <= set(terms)
    assert "NUM TIME" in terms  # "6:30" reads as two numbers, then "am"
    assert "NUM UNIT" in terms
    assert "on DAY for" in terms
    assert nf.class_terms("play some jazz") == []


def test_lemma_pairs_are_unordered_and_skip_stop_words() -> None:
    assert nf.pair_terms("turn the lights off") == nf.pair_terms("lights off turn")
    assert nf.pair_terms("playing songs") == ["play|song"]
    assert all("the" not in p.split("|") for p in nf.pair_terms("turn the lights off"))


def test_pooled_states_match_the_sentence_encoder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("tokenizers")
    from overheard.speech._minilm import sentence_encoder
    from overheard.speech.nlu import embeddings_available

    if not embeddings_available():
        pytest.skip("the packaged sentence encoder is not installed")
    texts = ["set an alarm for seven", "what is the weather in paris", "hi"]
    states = nf.token_states(texts, tmp_path / "states.npz")
    features = nf.Features(states)
    kept = features("mean-pooled last layer (kept)", texts)
    np.testing.assert_allclose(kept, sentence_encoder().encode(texts), atol=1e-4)
    both = features("mean- and max-pooled last layer", texts)
    assert both.shape == (3, 768)
    np.testing.assert_allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-5)
    # the max over the tokens bounds their mean, layer by layer
    assert (states["max"] >= states["mean"] - 1e-6).all()
    # the cache is read back when it holds every text asked for
    assert (nf.token_states(texts[:2], tmp_path / "states.npz")["mean"] == states["mean"]).all()
