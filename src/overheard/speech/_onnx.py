"""ONNX graphs on the CPU: each file opened once per process, shared by every thread.

``InferenceSession.run`` may be called from several threads at once, so a session is immutable
shared state; whatever a model remembers between calls (buffers, recurrent state) lives in the
caller's objects, never in the session.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import onnxruntime as ort

from overheard.errors import ConfigError

SESSION_THREADS = 1
"""Threads one ``run`` may use; the worker pool, not the graph, is where we parallelise."""
QUIET_LOG_SEVERITY = 3
"""onnxruntime log level that keeps errors but drops its provider warnings."""
BUNDLED_MODELS_PACKAGE = "openwakeword"
"""The wheel whose ``resources/models`` folder ships the graphs we use by default."""


def bundled_model(filename: str) -> Path:
    """Path of a graph shipped in the openWakeWord wheel (found without importing the package)."""
    spec = importlib.util.find_spec(BUNDLED_MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        hint = "pip install openwakeword==0.4.0"
        raise ConfigError(f"{BUNDLED_MODELS_PACKAGE} is not installed: {hint}")
    return Path(spec.submodule_search_locations[0]) / "resources" / "models" / filename


def load_session(path: Path) -> ort.InferenceSession:
    """The process-wide CPU session for the graph at ``path``."""
    resolved = path.resolve()
    if not resolved.is_file():
        raise ConfigError(f"model file not found: {path}")
    return _session(resolved)


@functools.cache
def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = SESSION_THREADS
    options.inter_op_num_threads = SESSION_THREADS
    options.log_severity_level = QUIET_LOG_SEVERITY
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
