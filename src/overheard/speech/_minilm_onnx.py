"""The all-MiniLM-L6-v2 forward pass as an ONNX graph, built from the packaged weights, run by ONNX Runtime.

The graph is written here node by node (the same BERT layers as the NumPy pass of
:mod:`overheard.speech._minilm`) and kept in memory: nothing is downloaded, nothing is written.
Each layer is written with ONNX Runtime's fused CPU kernels (``Attention``,
``SkipLayerNormalization``, ``BiasGelu``), which its optimiser does not find by itself in this
graph: about half the CPU time of the NumPy pass per short request (docs/models/nlu.md).
Imported only when an intent model asks for embeddings.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from overheard.errors import ConfigError

INSTALL_HINT = "pip install 'onnx>=1.16,<2'"
OPSET = 17
HEADS = 12
LAYERS = 6
LAYER_NORM_EPS = 1e-12
CONTRIB = "com.microsoft"
INT8_LEVELS = 63


def build_graph(tensors: dict[str, np.ndarray], *, fused: bool = True, int8: bool = False) -> Any:
    """The ONNX model: token ids (batch, tokens) in; out: ``pooled``, the mean-pooled last hidden
    states (batch, 384), ``layers``, every layer's mean-pooled output (batch, 6, 384; the
    last row is ``pooled``), and ``states``, every layer's output per token (batch, 6, tokens,
    384), which the name tagger of :mod:`overheard.protect._name_tagger` reads.

    ``fused``: each layer as ONNX Runtime's contrib kernels (``Attention``,
    ``SkipLayerNormalization``, ``BiasGelu`` of the ``com.microsoft`` domain) instead of the
    standard operators they stand for; the same arithmetic, fewer and faster kernels.
    ``int8``: the feed-forward products (two thirds of the multiply-adds) with int8 weights,
    quantised here per output column (``DynamicQuantizeMatMul``); needs ``fused``.
    """
    try:
        from onnx import TensorProto, helper, numpy_helper
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the ONNX sentence encoder needs onnx: {INSTALL_HINT}", code="missing_extra"
        ) from exc
    nodes: list[Any] = []
    weights = _weights(tensors, fused=fused, int8=int8)
    inits = [numpy_helper.from_array(np.ascontiguousarray(t), n) for n, t in weights]
    width = tensors["embeddings.word_embeddings.weight"].shape[1]
    consts = {
        "zero": np.array(0, np.int64),
        "one": np.array(1, np.int64),
        "half": np.array(0.5, np.float32),
        "unit": np.array(1.0, np.float32),
        "root2": np.array(math.sqrt(2.0), np.float32),
        "scale": np.array(1.0 / math.sqrt(width // HEADS), np.float32),
        "heads_shape": np.array([0, 0, HEADS, width // HEADS], np.int64),
        "flat_shape": np.array([0, 0, width], np.int64),
        "axis1": np.array([1], np.int64),
    }
    inits += [numpy_helper.from_array(v, k) for k, v in consts.items()]
    add = _adder(nodes, helper)
    add("Shape", ["ids"], ["ids_shape"])
    add("Gather", ["ids_shape", "one"], ["tokens"], axis=0)
    add("Range", ["zero", "tokens", "one"], ["positions"])
    add("Gather", ["embeddings.word_embeddings.weight", "ids"], ["word"])
    add("Gather", ["embeddings.position_embeddings.weight", "positions"], ["position"])
    add("Add", ["word", "position"], ["wp"])
    add("Add", ["wp", "token_type"], ["emb"])
    h = _layer_norm(add, "emb", "embeddings.LayerNorm")
    pooled_layers, token_layers = [], []
    for layer in range(LAYERS):
        name = f"encoder.layer.{layer}"
        if fused:
            inits += _fused_weights(tensors, name, int8, numpy_helper)
            h = _fused_layer(add, h, name, int8)
        else:
            h = _encoder_layer(add, h, name)
        pooled_layers.append(add("ReduceMean", [h], [f"{name}/pooled"], axes=[1], keepdims=1))
        token_layers.append(add("Unsqueeze", [h, "axis1"], [f"{name}/states"]))
    add("Concat", pooled_layers, ["layers"], axis=1)
    add("Concat", token_layers, ["states"], axis=1)
    add("Squeeze", [pooled_layers[-1], "axis1"], ["pooled"])
    graph = helper.make_graph(
        nodes,
        "minilm",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "tokens"])],
        [
            helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", width]),
            helper.make_tensor_value_info("layers", TensorProto.FLOAT, ["batch", LAYERS, width]),
            helper.make_tensor_value_info(
                "states", TensorProto.FLOAT, ["batch", LAYERS, "tokens", width]
            ),
        ],
        inits,
    )
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(CONTRIB, 1)]
    return helper.make_model(graph, opset_imports=opsets)


def _fused_weights(
    tensors: dict[str, np.ndarray], name: str, int8: bool, numpy_helper: Any
) -> list[Any]:
    """The extra initialisers of a fused layer: packed Q|K|V, and int8 feed-forward weights."""
    parts = [f"{name}.attention.self.{p}" for p in ("query", "key", "value")]
    qkv_w = np.concatenate([tensors[f"{p}.weight"].T for p in parts], axis=1)
    qkv_b = np.concatenate([tensors[f"{p}.bias"] for p in parts])
    out = [
        numpy_helper.from_array(np.ascontiguousarray(qkv_w, dtype=np.float32), f"{name}/qkv_w"),
        numpy_helper.from_array(qkv_b.astype(np.float32), f"{name}/qkv_b"),
    ]
    if int8:
        for dense in (f"{name}.intermediate.dense", f"{name}.output.dense"):
            weight, scale = _quantise_columns(tensors[f"{dense}.weight"].T)
            out += [
                numpy_helper.from_array(weight, f"{dense}/q"),
                numpy_helper.from_array(scale, f"{dense}/scale"),
            ]
    return out


def _quantise_columns(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output column, 7 bits wide: AVX2's u8 x s8 products then cannot
    saturate their 16-bit pair sums (ONNX Runtime's ``reduce_range``)."""
    scale = np.maximum(np.abs(weight).max(axis=0), 1e-12) / INT8_LEVELS
    quantised = np.clip(np.rint(weight / scale), -INT8_LEVELS, INT8_LEVELS).astype(np.int8)
    return np.ascontiguousarray(quantised), scale.astype(np.float32)


def _fused_layer(add: Any, h: str, name: str, int8: bool) -> str:
    """One BERT layer from ONNX Runtime's fused kernels (same arithmetic as _encoder_layer)."""
    attended = add(
        "Attention",
        [h, f"{name}/qkv_w", f"{name}/qkv_b"],
        [f"{name}/attention"],
        domain=CONTRIB,
        num_heads=HEADS,
    )
    out = f"{name}.attention.output.dense"
    projected = add("MatMul", [attended, f"{out}.weight"], [f"{out}/mm"])
    norm = f"{name}.attention.output.LayerNorm"
    h = add(
        "SkipLayerNormalization",
        [projected, h, f"{norm}.weight", f"{norm}.bias", f"{out}.bias"],
        [f"{norm}/out"],
        domain=CONTRIB,
        epsilon=LAYER_NORM_EPS,
    )
    inner_name, out_name = f"{name}.intermediate.dense", f"{name}.output.dense"
    if int8:
        inner = add(
            "DynamicQuantizeMatMul",
            [h, f"{inner_name}/q", f"{inner_name}/scale", "", f"{inner_name}.bias"],
            [f"{inner_name}/pre"],
            domain=CONTRIB,
        )
        inner = add("Gelu", [inner], [f"{inner_name}/out"], domain=CONTRIB)
        product = add(
            "DynamicQuantizeMatMul",
            [inner, f"{out_name}/q", f"{out_name}/scale"],
            [f"{out_name}/mm"],
            domain=CONTRIB,
        )
    else:
        mm = add("MatMul", [h, f"{inner_name}.weight"], [f"{inner_name}/mm"])
        inner = add("BiasGelu", [mm, f"{inner_name}.bias"], [f"{inner_name}/out"], domain=CONTRIB)
        product = add("MatMul", [inner, f"{out_name}.weight"], [f"{out_name}/mm"])
    norm = f"{name}.output.LayerNorm"
    return str(
        add(
            "SkipLayerNormalization",
            [product, h, f"{norm}.weight", f"{norm}.bias", f"{out_name}.bias"],
            [f"{norm}/out"],
            domain=CONTRIB,
            epsilon=LAYER_NORM_EPS,
        )
    )


def _weights(
    tensors: dict[str, np.ndarray], *, fused: bool, int8: bool
) -> list[tuple[str, np.ndarray]]:
    """Initialisers: linear weights as (in, out) for MatMul, the token-type row 0 on its own
    (without those the fused layers replace: Q, K, V weights; int8 feed-forward weights)."""
    unused = [".attention.self.query", ".attention.self.key", ".attention.self.value"]
    if int8:
        unused += [".intermediate.dense.weight", ".output.dense.weight"]
    out = []
    for name, tensor in tensors.items():
        if name.startswith("pooler.") or name == "embeddings.position_ids":
            continue
        if fused and any(part in name for part in unused) and ".attention.output" not in name:
            continue
        if name == "embeddings.token_type_embeddings.weight":
            out.append(("token_type", tensor[0].astype(np.float32)))
            continue
        linear = (
            name.endswith(".weight") and tensor.ndim == 2 and not name.startswith("embeddings.")
        )
        out.append((name, (tensor.T if linear else tensor).astype(np.float32)))
    return out


def _adder(nodes: list[Any], helper: Any) -> Any:
    def add(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))
        return outputs[0]

    return add


def _dense(add: Any, x: str, name: str) -> str:
    product = add("MatMul", [x, f"{name}.weight"], [f"{name}/mm"])
    return str(add("Add", [product, f"{name}.bias"], [f"{name}/out"]))


def _layer_norm(add: Any, x: str, name: str) -> str:
    return str(
        add(
            "LayerNormalization",
            [x, f"{name}.weight", f"{name}.bias"],
            [f"{name}/out"],
            axis=-1,
            epsilon=LAYER_NORM_EPS,
        )
    )


def _encoder_layer(add: Any, h: str, name: str) -> str:
    def heads(part: str) -> str:
        x = _dense(add, h, f"{name}.attention.self.{part}")
        shaped = add("Reshape", [x, "heads_shape"], [f"{x}/heads"])
        return str(add("Transpose", [shaped], [f"{x}/t"], perm=[0, 2, 1, 3]))

    q, k, v = heads("query"), heads("key"), heads("value")
    kt = add("Transpose", [k], [f"{name}/kt"], perm=[0, 1, 3, 2])
    scores = add("MatMul", [q, kt], [f"{name}/scores"])
    scaled = add("Mul", [scores, "scale"], [f"{name}/scaled"])
    weights = add("Softmax", [scaled], [f"{name}/softmax"], axis=-1)
    attended = add("MatMul", [weights, v], [f"{name}/attended"])
    back = add("Transpose", [attended], [f"{name}/back"], perm=[0, 2, 1, 3])
    context = add("Reshape", [back, "flat_shape"], [f"{name}/context"])
    attention = _dense(add, context, f"{name}.attention.output.dense")
    residual = add("Add", [h, attention], [f"{name}/res1"])
    h = _layer_norm(add, residual, f"{name}.attention.output.LayerNorm")
    inner = _gelu(add, _dense(add, h, f"{name}.intermediate.dense"), name)
    out = _dense(add, inner, f"{name}.output.dense")
    residual = add("Add", [h, out], [f"{name}/res2"])
    return _layer_norm(add, residual, f"{name}.output.LayerNorm")


def _gelu(add: Any, x: str, name: str) -> str:
    """0.5 x (1 + erf(x / sqrt 2)), the exact GELU of BERT (ONNX Runtime fuses it)."""
    scaled = add("Div", [x, "root2"], [f"{name}/g1"])
    erf = add("Erf", [scaled], [f"{name}/g2"])
    shifted = add("Add", [erf, "unit"], [f"{name}/g3"])
    product = add("Mul", [x, shifted], [f"{name}/g4"])
    return str(add("Mul", [product, "half"], [f"{name}/gelu"]))


def session(
    tensors: dict[str, np.ndarray], threads: int = 1, *, fused: bool = True, int8: bool = False
) -> Any:
    """An ONNX Runtime session of the graph (``threads`` intra-op threads; see build_graph)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    payload = build_graph(tensors, fused=fused, int8=int8).SerializeToString()
    return ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
