"""What storing the disguise's target voice lossily costs: a piece of the pool, lossless vs Ogg Opus.

Run: python benchmarks/disguise_voice_codec.py LOSSLESS.flac [--start 300] [--seconds 120]
     [--levels 0.9,0.94,0.96,0.97,0.98]

LOSSLESS is the mix ``scripts/make_disguise_voice.py --lossless`` writes. A piece of it is encoded
with libsndfile's Opus encoder at each compression level, decoded, and analysed as the disguise
analyses its pool (``_voices.analyse_coded`` and the Whisper content features); each is compared
with the lossless piece's analysis: F0 (voiced frames within 1 %), mel-cepstral distortion of the
coded envelope (dB, c0 left out), cosine of the centred content features. Then the first three
librivox clips are converted into a pool of each piece: the share of the k = 4 nearest pool frames
that are the same as with the lossless pool, and the distortion between the converted envelopes
(for scale, the first row: the lossless pool averaging k = 8 frames instead of 4).
Needs ../shared/data (librivox clips only).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from overheard.protect import _content, _knnvc, _voices  # noqa: E402

DATA = Path(os.environ.get("OVERHEARD_SHARED_DATA", ROOT.parent / "shared" / "data"))
RATE_HZ = 16000
MCD_DB = 10 / np.log(10) * np.sqrt(2)


def mcd(a: np.ndarray, b: np.ndarray) -> float:
    """Mean mel-cepstral distortion between coded envelopes (rows), dB, c0 left out."""
    n = min(len(a), len(b))
    return float(MCD_DB * np.mean(np.sqrt(np.sum((a[:n, 1:] - b[:n, 1:]) ** 2, axis=1))))


def opus(x: np.ndarray, level: float) -> tuple[np.ndarray, float]:
    """``x`` through Ogg Opus at compression ``level``: decoded samples and kbit/s."""
    buf = io.BytesIO()
    sf.write(buf, x, RATE_HZ, format="OGG", subtype="OPUS", compression_level=level)
    kbps = len(buf.getvalue()) * 8 / (len(x) / RATE_HZ) / 1000
    buf.seek(0)
    y, rate = sf.read(buf, dtype="float64")
    assert rate == RATE_HZ and len(y) == len(x)
    return y, kbps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lossless", type=Path)
    parser.add_argument("--start", type=float, default=300.0, help="seconds into the mix")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--levels", default="0.9,0.94,0.96,0.97,0.98")
    args = parser.parse_args()
    info = sf.info(args.lossless)
    start = int(args.start * RATE_HZ)
    x, _ = sf.read(args.lossless, dtype="float64", start=start, frames=int(args.seconds * RATE_HZ))
    clips = []
    for line in (DATA / "asr" / "librivox" / "transcription").read_text().splitlines()[:3]:
        fid = line.rsplit("(", 1)[1].rstrip(")")
        clips.append(sf.read(DATA / "asr" / "librivox" / f"{fid}.wav", dtype="float64")[0])
    sources = [_voices.features(c) for c in clips]
    window = _voices.WINDOW_MEL_FRAMES // _content.ENCODER_STRIDE

    def pool(y: np.ndarray) -> tuple[tuple, _knnvc.TargetVoice]:
        f0, env, ap = _voices.analyse_coded(y)
        return (f0, env), _knnvc.build_coded_voice(
            "piece", f0, env, ap, _voices.features(y), window
        )

    def converted(voice: _knnvc.TargetVoice, k: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for feats in sources:
            picks = _knnvc.nearest(_knnvc.centre(feats, voice.position_mean), voice, k)
            env = voice.envelope[picks].mean(axis=1).reshape(-1, voice.envelope.shape[2])
            out.append((np.sort(picks, axis=1), env))
        return out

    (f0_ref, env_ref), ref = pool(x)
    conv_ref = converted(ref)
    full_s = info.frames / RATE_HZ
    print(
        f"{args.lossless}: {full_s:.0f} s; piece {args.start:.0f}–{args.start + args.seconds:.0f} s"
    )
    print(
        "| level | kbit/s | pool size MB | F0 within 1 % | envelope MCD dB | features cos |"
        " same neighbours % | converted MCD dB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    k8 = np.mean([mcd(e, r) for (_, e), (_, r) in zip(converted(ref, 8), conv_ref, strict=True)])
    print(f"| (lossless, k = 8 instead of 4) | - | - | - | - | - | - | {k8:.2f} |", flush=True)
    for level in [float(v) for v in args.levels.split(",")]:
        y, kbps = opus(x, level)
        (f0, env), voice = pool(y)
        both = (f0_ref > 0) & (f0 > 0)
        f0_ok = (
            np.mean(np.abs(f0[both] / f0_ref[both] - 1) < 0.01) * both.sum() / (f0_ref > 0).sum()
        )
        cos = float(np.mean(np.sum(voice.features * ref.features, axis=1)))
        conv = converted(voice)
        same = np.mean(
            [
                np.mean([len(set(a) & set(b)) / 4 for a, b in zip(p, q, strict=True)])
                for (p, _), (q, _) in zip(conv, conv_ref, strict=True)
            ]
        )
        cmcd = np.mean([mcd(e, r) for (_, e), (_, r) in zip(conv, conv_ref, strict=True)])
        print(
            f"| {level} | {kbps:.1f} | {kbps * full_s / 8000:.2f} | {100 * f0_ok:.1f} "
            f"| {mcd(env, env_ref):.2f} | {cos:.3f} | {100 * same:.1f} | {cmcd:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
