"""Variants of the nearest-neighbour disguise on the TUNING speakers: words against linkability.

Run: python benchmarks/disguise_variants.py [--variants NAME ...] [--asr-draws 2] [--cache DIR]
                                           [--pool-workers N] [--split held-out]

Every variant converts the tuning half's 50 LibriSpeech utterances (one draw each) and the 5
librivox clips (``--asr-draws`` draws each) with the same random draws (the variants' extra
choices draw nothing). The WORLD analysis and the content features of the target pool and of every
source clip are computed once and shared by all variants, so only matching and resynthesis are
repeated; the per-variant "CPU s/s" is the process CPU time of that part per second of audio.
Figures: whisper WER on librivox (the platform's default recogniser, pooled over draws), the
share of whisper's words of the tuning utterances the disguise changes (WER of the converted
utterance's transcript against the original's), and both attackers' EERs on the tuning half,
ignorant and lazy-informed (see benchmarks/disguise.py). The held-out half is not converted unless
``--split held-out`` asks for it: that is for one run, once a variant has been chosen on the
tuning half, beside version 4 (the GMM-UBM of a half is trained on the other half's originals).
``--cache DIR`` keeps between runs what does not depend on the variant, each computed once: the
pool's WORLD analysis, the GMM-UBM, the attackers' representations and whisper's transcripts of the
originals, and the WORLD analyses and content features of the clips converted (on a loaded shared
machine these took half an hour before the first variant started). Delete the folder after
changing the data, the attackers or the recogniser.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _disguise_data as dd  # noqa: E402
import _speaker_attack as sa  # noqa: E402
from disguise import SEED, wer  # noqa: E402

from overheard.protect import _voices, _world  # noqa: E402
from overheard.protect import disguise as dg  # noqa: E402

RATE_HZ = dd.RATE_HZ
V4 = {
    "encoder": "tiny.en",
    "k": 4,
    "context": 0,
    "temperature": 0.0,
    "source_aperiodicity": False,
    "smooth_frames": 1,
}
"""Version 4's matching options, whatever ``KnnConfig``'s defaults are now."""
VARIANTS: dict[str, dict] = {
    "v4: tiny.en, k=4, mean": {**V4, "encoder": "tiny.en"},
    "base, k=4, mean": {**V4, "encoder": "base"},
    "base, k=8, mean": {**V4, "encoder": "base", "k": 8},
    "base, k=8, softmax 0.05": {**V4, "encoder": "base", "k": 8, "temperature": 0.05},
    "base, k=4, softmax 0.05": {**V4, "encoder": "base", "temperature": 0.05},
    "base, k=4, context ±1": {**V4, "encoder": "base", "context": 1},
    "base, k=4, context ±2": {**V4, "encoder": "base", "context": 2},
    "base, k=4, source aperiodicity": {**V4, "encoder": "base", "source_aperiodicity": True},
    "tiny.en, k=4, context ±1": {**V4, "encoder": "tiny.en", "context": 1},
    "tiny.en, k=4, source aperiodicity": {**V4, "encoder": "tiny.en", "source_aperiodicity": True},
    "tiny.en, k=8, mean": {**V4, "encoder": "tiny.en", "k": 8},
    "tiny.en, k=8, softmax 0.05": {**V4, "encoder": "tiny.en", "k": 8, "temperature": 0.05},
    "tiny.en, k=8, context ±1": {**V4, "encoder": "tiny.en", "k": 8, "context": 1},
    "tiny.en, k=8, source aperiodicity": {
        **V4,
        "encoder": "tiny.en",
        "k": 8,
        "source_aperiodicity": True,
    },
    "tiny.en, k=12, mean": {**V4, "encoder": "tiny.en", "k": 12},
    "tiny.en, k=8, smooth 15 ms": {**V4, "encoder": "tiny.en", "k": 8, "smooth_frames": 3},
    "tiny.en, k=8, smooth 25 ms": {**V4, "encoder": "tiny.en", "k": 8, "smooth_frames": 5},
    "base, k=2, mean": {**V4, "encoder": "base", "k": 2},
    "base, k=16, softmax 0.05": {**V4, "encoder": "base", "k": 16, "temperature": 0.05},
}
"""Variants by name: ``KnnConfig`` fields, version 4's options changed."""


def encoders(names: list[str]) -> tuple[str, ...]:
    """The content encoders the named variants match with (only these are computed)."""
    return tuple(sorted({dg.KnnConfig(**VARIANTS[n]).encoder for n in names}))


class Source:
    """A clip's WORLD analysis and content features (per encoder), computed once."""

    def __init__(
        self,
        pcm: np.ndarray,
        encoders: tuple[str, ...],
        analysed: tuple[_world.Analysis, dict[str, np.ndarray]] | None = None,
    ) -> None:
        self.pcm = pcm
        self.x = pcm.astype(np.float64) / 32768.0
        if analysed is None:
            analysed = (
                _world.analyse(self.x, RATE_HZ),
                {e: _voices.features(self.x, e) for e in encoders},
            )
        self.analysis, self.features = analysed


def analysed_sources(
    clips: list[np.ndarray], encoders: tuple[str, ...], cache: Path | None, name: str
) -> list[Source]:
    """A ``Source`` for each clip, their analyses kept in ``cache`` under ``name``."""
    made = dd.kept(
        cache,
        f"{name}-{'+'.join(encoders)}.pkl",
        lambda: [(s.analysis, s.features) for s in (Source(c, encoders) for c in clips)],
    )
    return [Source(c, encoders, a) for c, a in zip(clips, made, strict=True)]

    def convert(self, params: dg.KnnParams) -> np.ndarray:
        """What ``disguise(pcm, params)`` returns, from the cached analysis and features."""
        converted = dg.convert_analysed(
            self.analysis, self.features[params.encoder], params, self.x
        )
        y = dg._match_level(converted, self.x)
        return np.clip(np.round(y * 32768), -32768, 32767).astype(np.int16)


def eers(attackers, originals, reps_by, speakers, members, split) -> dict[str, float]:
    out = {}
    for attacker in attackers:
        reps = reps_by[attacker.name]
        for mode, enrol in (("ignorant", originals[attacker.name]), ("lazy", reps)):
            scores, labels = attacker.trials(enrol, reps, speakers.owners, members, split)
            out[f"{attacker.name} {mode}"] = sa.eer(scores, labels)
    return out


def main() -> None:
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", metavar="NAME", help="names, run in this order")
    parser.add_argument("--asr-draws", type=int, default=2)
    parser.add_argument("--cache", type=Path)
    parser.add_argument(
        "--split",
        choices=("tuning", "held-out"),
        default="tuning",
        help="the half converted and scored (held-out: once, for a variant chosen on tuning)",
    )
    parser.add_argument(
        "--pool-workers", type=int, default=1, help="processes analysing the pool (same result)"
    )
    args = parser.parse_args()
    names = (
        [n for w in args.variants for n in VARIANTS if w == n] if args.variants else list(VARIANTS)
    )
    unknown = [w for w in args.variants or [] if w not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    start = time.perf_counter()
    with threadpool_limits(1):
        full = dd.speaker_set(10)
        members = full.splits[args.split]
        keep = [i for i, o in enumerate(full.owners) if o in members]
        # The GMM-UBM of a half is trained on the other half's originals (as in
        # benchmarks/disguise.py); only the chosen half is converted and scored.
        gmm = dd.Gmm.with_ubms(
            dd.kept(
                args.cache,
                f"ubm-{args.split}.pkl",
                lambda: dd.Gmm(full, dd.background_clips(), sa.COMPONENTS, (args.split,)).ubm,
            )
        )
        speakers = dd.SpeakerSet(
            [full.clips[i] for i in keep], [full.owners[i] for i in keep], full.sexes, full.splits
        )
        attackers = [dd.DVector(), gmm] if dd.dvector_available() else [gmm]
        if len(attackers) == 1:
            print("d-vector attacker skipped: torch/resemblyzer (measurement extra) missing")
        whisper = dd.Whisper()
        asr = dd.asr_set(5)
        originals, own_text, base_wer = dd.kept(
            args.cache,
            f"originals-{args.split}-{'+'.join(a.name for a in attackers)}.pkl",
            lambda: (
                {a.name: [a.represent(c) for c in speakers.clips] for a in attackers},
                [whisper(c) for c in speakers.clips],
                wer([t for _, t in asr], [whisper(p) for p, _ in asr]),
            ),
        )
        print(f"tools ready ({time.perf_counter() - start:.0f} s)", flush=True)
        used = encoders(names)
        dd.build_shipped_pools(used, args.cache, args.pool_workers)
        print(f"pools ready ({time.perf_counter() - start:.0f} s)", flush=True)
        sources = analysed_sources(speakers.clips, used, args.cache, f"sources-{args.split}")
        asr_sources = analysed_sources([p for p, _ in asr], used, args.cache, "sources-librivox")
        audio_s = (
            sum(len(c) for c in speakers.clips) + args.asr_draws * sum(len(p) for p, _ in asr)
        ) / RATE_HZ
        print(f"sources ready ({time.perf_counter() - start:.0f} s)", flush=True)
        rows = []
        for name in names:
            config = dg.KnnConfig(**VARIANTS[name])
            rng = np.random.default_rng(SEED)
            cpu = time.process_time()
            converted = [s.convert(dg.draw_knn_params(rng, config)) for s in sources]
            asr_out = [
                [s.convert(dg.draw_knn_params(rng, config)) for s in asr_sources]
                for _ in range(args.asr_draws)
            ]
            cpu_per_s = (time.process_time() - cpu) / audio_s
            refs = [t for _, t in asr] * args.asr_draws
            hyps = [whisper(c) for draw in asr_out for c in draw]
            row = {
                "name": name,
                "wer": wer(refs, hyps),
                "changed": wer(own_text, [whisper(c) for c in converted]),
                "cpu": cpu_per_s,
                **eers(
                    attackers,
                    originals,
                    {a.name: [a.represent(c) for c in converted] for a in attackers},
                    speakers,
                    members,
                    args.split,
                ),
            }
            rows.append(row)
            print(f"done ({time.perf_counter() - start:.0f} s): {row}", flush=True)
    heads = [f"{a.name} {m}" for a in attackers for m in ("ignorant", "lazy")]
    print(
        f"\n{args.split} speakers ({', '.join(sorted(members, key=int))}); original whisper WER"
        f" {100 * base_wer:.1f} %; {len(asr)} librivox clips x {args.asr_draws} draws; seed {SEED}"
    )
    print(
        f"| variant | WER librivox % | {args.split} words changed % | "
        + " | ".join(f"{h} EER %" for h in heads)
        + " | CPU s/s |"
    )
    print("|" + "---|" * (len(heads) + 4))
    for r in rows:
        cells = " | ".join(f"{100 * r[h]:.1f}" for h in heads)
        print(
            f"| {r['name']} | {100 * r['wer']:.1f} | {100 * r['changed']:.1f} | {cells}"
            f" | {r['cpu']:.3f} |"
        )
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
