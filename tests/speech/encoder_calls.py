"""Counting whisper's encoder runs, for tests of what reuses the kept encoder output."""

from __future__ import annotations

from typing import Any

import pytest


def count_encodes(monkeypatch: pytest.MonkeyPatch, model: Any) -> list[int]:
    """Patch ``model.encode`` (a faster-whisper ``WhisperModel``) to record every call's frame
    count; the list it returns grows with each encoder run."""
    calls: list[int] = []
    real = model.encode

    def counting(features: Any) -> Any:
        calls.append(features.shape[-1])
        return real(features)

    monkeypatch.setattr(model, "encode", counting)
    return calls
