"""The NumPy all-MiniLM-L6-v2 encoder and the intent model that adds its embeddings."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from overheard.speech import _minilm
from overheard.speech.nlu import IntentModel, train_intent_model


@pytest.fixture(scope="module")
def encoder():
    try:
        return _minilm.sentence_encoder()
    except Exception as exc:  # the packaged weights are an install step of their own
        pytest.skip(f"all-MiniLM-L6-v2 package not installed: {exc}")


def test_safetensors_reader_reads_what_was_written(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([7, 8], dtype=np.int64)
    header = {
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
        "__metadata__": {"format": "np"},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + a.tobytes() + b.tobytes())
    read = _minilm.read_safetensors(path)
    assert np.array_equal(read["a"], a) and np.array_equal(read["b"], b)


def test_paraphrases_are_closer_than_unrelated_requests(encoder):
    vectors = encoder.encode(
        ["turn on the kitchen lights", "switch the lights on in the kitchen", "what's the weather"]
    )
    assert vectors.shape == (3, _minilm.DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > 0.8 and unrelated < 0.3


def test_batched_and_single_encodings_agree(encoder):
    texts = ["set a timer for ten minutes", "set an alarm for six am", "play jazz"]
    together = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_several_layers_side_by_side(encoder):
    texts = ["set a timer for ten minutes", "play jazz in the kitchen"]
    last = encoder.encode(texts)
    assert np.array_equal(encoder.encode(texts, (6,)), last)
    both = encoder.encode(texts, (3, 6))
    assert both.shape == (2, 2 * _minilm.DIMENSIONS)
    assert np.allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-5)
    assert np.allclose(both[:, _minilm.DIMENSIONS :] * np.sqrt(2), last, atol=1e-5)
    alone = np.vstack([encoder.encode([t], (3, 6)) for t in texts])
    assert np.allclose(both, alone, atol=1e-5)
    with pytest.raises(ValueError):
        encoder.encode(texts, (0, 6))


def test_intent_model_with_embeddings_round_trips(encoder, tmp_path):
    examples = [
        ("turn on the lights", "lights_on"),
        ("lights on please", "lights_on"),
        ("switch off the lights", "lights_off"),
        ("lights off", "lights_off"),
        ("what's the weather like", "weather"),
        ("will it rain tomorrow", "weather"),
    ]
    model = train_intent_model(examples, embeddings=True)
    model.save(tmp_path / "m.npz")
    loaded = IntentModel.load(tmp_path / "m.npz")
    assert loaded.embeddings and loaded.embedding_layers == model.embedding_layers
    texts = ["is it going to be sunny", "illuminate the room"]
    assert np.allclose(model.probabilities(texts), loaded.probabilities(texts))
    assert loaded.predict("is it going to be sunny").intent == "weather"


def test_onnx_and_numpy_passes_agree(encoder):
    if encoder.runtime != "onnx":
        pytest.skip("onnx not installed: only the NumPy pass is available")
    numpy_pass = _minilm.SentenceEncoder(_minilm.model_dir(), runtime="numpy")
    texts = ["wake me up at six thirty tomorrow", "delete that", "what's on my calendar for friday"]
    assert np.allclose(encoder.encode(texts), numpy_pass.encode(texts), atol=1e-4)
    layers = (1, 3, 6)
    assert np.allclose(encoder.encode(texts, layers), numpy_pass.encode(texts, layers), atol=1e-4)


def test_token_states_agree_between_passes_and_pool_to_the_sentence_embedding(encoder):
    numpy_pass = _minilm.SentenceEncoder(_minilm.model_dir(), runtime="numpy")
    text = "call Jenny about the party"
    states, offsets = encoder.token_states(text, 6)
    assert states.shape == (len(offsets), _minilm.DIMENSIONS)
    assert [text[a:b].lower() for a, b in offsets if b > a][:2] == ["call", "jenny"]
    pooled = states.mean(axis=0)
    assert np.allclose(pooled / np.linalg.norm(pooled), encoder.encode([text])[0], atol=1e-4)
    for layer in (1, 4):
        assert np.allclose(
            encoder.token_states(text, layer)[0], numpy_pass.token_states(text, layer)[0], atol=1e-3
        )
    with pytest.raises(ValueError, match="layer"):
        encoder.token_states(text, 7)


def test_fused_and_int8_graphs_agree_with_the_plain_one(encoder):
    if encoder.runtime != "onnx":
        pytest.skip("onnx not installed: only the NumPy pass is available")
    from overheard.speech import _minilm_onnx

    tensors = _minilm.read_safetensors(_minilm.model_dir() / "model.safetensors")
    ids = {"ids": np.array([encoder._tokenizer.encode("turn the kitchen lights off").ids])}
    plain = _minilm_onnx.session(tensors, fused=False).run(None, ids)[0]
    fused = _minilm_onnx.session(tensors, fused=True).run(None, ids)[0]
    int8 = _minilm_onnx.session(tensors, fused=True, int8=True).run(None, ids)[0]
    assert np.allclose(fused, plain, atol=1e-4)
    cosine = float(int8[0] @ plain[0] / np.linalg.norm(int8[0]) / np.linalg.norm(plain[0]))
    assert 0.97 < cosine < 0.99999  # close, and really quantised
