"""Voice disguise: privacy (speaker-verification EER, two attackers) against intelligibility (WER, wake word).

Run: python benchmarks/disguise.py [--quick] [--only NAME ...] [--wake-clips 50] [--asr-draws 3]
                                  [--split held-out] [--pool NAME=PATH ...]
                                  [--pool-cache DIR [--pool-workers N]]

Needs the measurement extra (torch==2.13.0, resemblyzer) and ../shared/data. Speakers: the 10
LibriSpeech test-other speakers, split by speaker id (numeric order): the first five are the tuning
half, the other five are held out and never used to choose a disguise; the held-out figures are
the headline. Two attackers, each with leave-one-out enrolment (the tested utterance is never in
its own speaker's enrolment): resemblyzer's d-vector encoder (cosine to the mean enrolment
embedding) and an MFCC GMM-UBM with MAP-adapted means (log-likelihood ratio; its UBM is trained on
the other half's speakers and wake-word recordings, never on the speakers it scores).
"ignorant": enrol on originals, test disguised. "lazy-informed": enrol and test on disguised
audio, every utterance with its own independent draw. Per-sex EERs use same-sex trials only.
Without the measurement extra's torch/resemblyzer the d-vector attacker is skipped (said so).
WER: the platform's default recogniser (whisper, ``asr_from_spec("whisper")``) on librivox, original vs disguised,
averaged over draws; pocketsphinx as a secondary column; on the held-out speakers (no reference
transcripts) the share of words the disguise changes in whisper's own transcript.
``--pool NAME=PATH`` adds a config "knnvc pool NAME": the default method converting into the
target voice read from PATH (any 16 kHz mono file soundfile reads) instead of the shipped one, so
that two target pools are compared in one run (``--only pool`` runs just those).
``--pool-cache DIR`` keeps there what every run computes alike (the shipped pool's WORLD analysis,
the GMM-UBMs, the originals' representations and whisper transcripts); delete the folder after
changing the data, the attackers or the recogniser.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _disguise_data as dd  # noqa: E402
import _speaker_attack as sa  # noqa: E402

from overheard.protect import disguise as dg  # noqa: E402
from overheard.protect._mcadams import mcadams  # noqa: E402

RATE_HZ = dd.RATE_HZ
SEED = 20240601
GOAL_EER_IGNORANT = 0.40
GOAL_EER_LAZY = 0.35
GOAL_WER_POINTS = 0.05
"""Disguised WER may exceed the original's by at most this much (absolute)."""
GOAL_WAKE_POINTS = 0.05
"""The wake word "still fires": the disguised firing rate at most this much below the original's."""
SPLITS = ("held-out", "tuning")
MODES = ("ignorant", "lazy")
SEXES = ("all", "F", "M")

Disguiser = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def world(config: dg.DisguiseConfig) -> Disguiser:
    return lambda pcm, rng: dg.disguise(pcm, dg.draw_params(rng, config), RATE_HZ)


def mcadams_range(low: float, high: float) -> Disguiser:
    return lambda pcm, rng: mcadams(pcm, float(rng.uniform(low, high)), RATE_HZ)


def default_method(pcm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whatever ``overheard.protect.disguise`` does by default: a fresh draw, then disguise."""
    return dg.disguise(pcm, dg.draw(rng), RATE_HZ)


KNN_V4 = dg.KnnConfig(encoder="tiny.en", k=4, context=0, temperature=0.0, source_aperiodicity=False)
"""The nearest-neighbour method as version 4 made it (whatever the defaults are now)."""

KNN_K8_SMOOTH = dg.KnnConfig(
    encoder="tiny.en", k=8, context=0, temperature=0.0, source_aperiodicity=False, smooth_frames=3
)
"""Version 4 with 8 matched frames averaged and the envelope smoothed over 15 ms: the candidate the
tuning half chose for version 5 (docs/models/voice-disguise.md)."""

V1_OFF = {"warp_power_range": (1.0, 1.0), "mcadams_alpha_range": (1.0, 1.0)}
"""The steps added after the first WORLD disguise, switched off (and drawing nothing)."""

CONFIGS: dict[str, Disguiser | None] = {
    "original (no disguise)": None,
    "default": default_method,
    "knnvc": lambda pcm, rng: dg.disguise(pcm, dg.draw(rng, "knnvc"), RATE_HZ),
    "knnvc v4": lambda pcm, rng: dg.disguise(pcm, dg.draw_knn_params(rng, KNN_V4), RATE_HZ),
    "knnvc k=8, smooth 15 ms": lambda pcm, rng: dg.disguise(
        pcm, dg.draw_knn_params(rng, KNN_K8_SMOOTH), RATE_HZ
    ),
    "mcadams a=0.8": mcadams_range(0.8, 0.8),
    "mcadams a~U(0.6,0.9)": mcadams_range(0.6, 0.9),
    "world pitch+warp": world(
        dg.DisguiseConfig(f0_contour_scale_range=(1.0, 1.0), replace_ltas=False, **V1_OFF)
    ),
    "world v1 (previous default)": world(dg.DisguiseConfig(**V1_OFF)),
    "world strong": world(
        dg.DisguiseConfig(
            f0_median_range_hz=(80.0, 300.0),
            f0_contour_scale_range=(0.3, 0.6),
            warp_alpha_range=(-0.15, 0.15),
            **V1_OFF,
        )
    ),
    "world v1 + mcadams": world(
        dg.DisguiseConfig(warp_power_range=(1.0, 1.0), mcadams_alpha_range=(0.8, 0.95))
    ),
    "world default": world(dg.DisguiseConfig()),
    "world power 0.7-0.9": world(dg.DisguiseConfig(warp_power_range=(0.7, 0.9))),
    "world power 0.8-1.15": world(dg.DisguiseConfig(warp_power_range=(0.8, 1.15))),
}
"""Disguise methods by name; a new method is one more line. The first is the baseline."""


@dataclass
class Row:
    """One configuration's measured figures."""

    name: str
    eer: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    """(attacker, split, mode, sex) -> EER, 0..1."""
    wer: dict[str, float] = field(default_factory=dict)
    """Recogniser -> WER on librivox, 0..1 (disguised: pooled over draws)."""
    wer_draws: dict[str, list[float]] = field(default_factory=dict)
    """Recogniser -> WER of each draw, 0..1."""
    changed: float = float("nan")
    """Share of whisper's words on the held-out speakers the disguise changes (WER vs own transcript)."""
    wake_rate: float = float("nan")
    compute_s: float = 0.0
    cpu_s: float = 0.0
    audio_s: float = 0.0


class Timer:
    """Accumulates seconds of disguise compute (wall and process CPU) and of audio disguised."""

    def __init__(self) -> None:
        self.compute_s = 0.0
        self.cpu_s = 0.0
        self.audio_s = 0.0

    def run(self, fn: Disguiser | None, pcm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if fn is None:
            return pcm
        start, cpu = time.perf_counter(), time.process_time()
        out = fn(pcm, rng)
        self.compute_s += time.perf_counter() - start
        self.cpu_s += time.process_time() - cpu
        self.audio_s += len(pcm) / RATE_HZ
        assert out.dtype == np.int16 and len(out) == len(pcm)
        return out


def normalise(text: str) -> str:
    """Lowercase words; "mr"/"mrs" folded to their spoken form."""
    words = re.findall(r"[a-z']+", text.lower().replace("-", " "))
    folded = {"mr": "mister", "mrs": "missus", "dr": "doctor"}
    return " ".join(folded.get(w, w) for w in words) or "<empty>"


def wer(refs: list[str], hyps: list[str]) -> float:
    import jiwer

    return float(jiwer.wer([normalise(r) for r in refs], [normalise(h) for h in hyps]))


def measure_eers(row: Row, disguised: list[np.ndarray], tools: dict) -> None:
    """Both attackers, each split measured, ignorant and lazy-informed, all and per sex."""
    speakers: dd.SpeakerSet = tools["speakers"]
    for attacker in tools["attackers"]:
        reps = (
            tools["original_reps"][attacker.name]
            if disguised is speakers.clips
            else [attacker.represent(c) for c in disguised]
        )
        enrol = {"ignorant": tools["original_reps"][attacker.name], "lazy": reps}
        for split in tools["splits"]:
            members = speakers.splits[split]
            for sex in SEXES:
                keep = {s for s in members if sex == "all" or speakers.sexes[s] == sex}
                if len(keep) < 2:
                    continue
                for mode in MODES:
                    scores, labels = attacker.trials(
                        enrol[mode], reps, speakers.owners, keep, split
                    )
                    row.eer[attacker.name, split, mode, sex] = sa.eer(scores, labels)


def measure_asr(row: Row, fn: Disguiser | None, timer: Timer, rng, tools, args) -> None:
    """WER on librivox per recogniser (each draw separately and pooled)."""
    draws = 1 if fn is None else args.asr_draws
    for recognise in tools["recognisers"]:
        per_draw, refs, hyps = [], [], []
        for _ in range(draws):
            r = [text for _, text in tools["asr"]]
            h = [recognise(timer.run(fn, pcm, rng)) for pcm, _ in tools["asr"]]
            per_draw.append(wer(r, h))
            refs, hyps = refs + r, hyps + h
        row.wer[recognise.name] = wer(refs, hyps)
        row.wer_draws[recognise.name] = per_draw


def measure(name: str, fn: Disguiser | None, tools: dict, args: argparse.Namespace) -> Row:
    rng, timer, row = np.random.default_rng(SEED), Timer(), Row(name)
    speakers: dd.SpeakerSet = tools["speakers"]
    measured = set().union(*(speakers.splits[s] for s in tools["splits"]))
    disguised = (
        speakers.clips
        if fn is None
        else [
            timer.run(fn, c, rng) if o in measured else c
            for c, o in zip(speakers.clips, speakers.owners, strict=True)
        ]
    )
    measure_eers(row, disguised, tools)
    measure_asr(row, fn, timer, rng, tools, args)
    if tools["held_out_text"] is not None and fn is None:
        row.changed = 0.0  # whisper decodes deterministically: the reference itself
    elif tools["held_out_text"] is not None and "held-out" in tools["splits"]:
        held = [i for i, o in enumerate(speakers.owners) if o in speakers.splits["held-out"]]
        whisper = tools["recognisers"][0]
        row.changed = wer(
            [tools["held_out_text"][i] for i in held], [whisper(disguised[i]) for i in held]
        )
    fired = [tools["wake"].fires(timer.run(fn, c, rng)) for c in tools["alexa"]]
    row.wake_rate = float(np.mean(fired))
    row.compute_s, row.cpu_s, row.audio_s = timer.compute_s, timer.cpu_s, timer.audio_s
    return row


def pct(value: float) -> str:
    return f"{100 * value:4.1f}" if value == value else "  - "


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def eer_cell(row: Row, attacker: str, split: str, mode: str) -> str:
    """'EER ✓/✗ (F/M)' against the goal for ``mode``."""
    goal = GOAL_EER_IGNORANT if mode == "ignorant" else GOAL_EER_LAZY
    value = row.eer.get((attacker, split, mode, "all"), float("nan"))
    f = row.eer.get((attacker, split, mode, "F"), float("nan"))
    m = row.eer.get((attacker, split, mode, "M"), float("nan"))
    return f"{pct(value)} {mark(value >= goal - 1e-9)} ({pct(f)}/{pct(m)})"


def print_eer_table(rows: list[Row], split: str, attackers: list[str]) -> None:
    heads = [f"{a} {m} % (F/M)" for a in attackers for m in ("ignorant", "lazy-informed")]
    print(f"\nEER, {split} speakers:")
    print("| config | " + " | ".join(heads) + " |")
    print("|" + "---|" * (len(heads) + 1))
    goals = [f"≥ {pct(GOAL_EER_IGNORANT)}", f"≥ {pct(GOAL_EER_LAZY)}"] * len(attackers)
    print("| *goal* | " + " | ".join(goals) + " |")
    for r in rows:
        cells = [eer_cell(r, a, split, m) for a in attackers for m in MODES]
        print(f"| {r.name} | " + " | ".join(cells) + " |")


def print_asr_table(rows: list[Row], recognisers: list[str]) -> None:
    base = rows[0]
    heads = [f"WER {n} % (draws)" for n in recognisers]
    print("\nIntelligibility (original row = no disguise, same run):")
    print(
        "| config | "
        + " | ".join(heads)
        + " | held-out words changed % | wake fires % | RTF | CPU s/s |"
    )
    print("|" + "---|" * (len(heads) + 5))
    goal_wer = f"≤ original + {pct(GOAL_WER_POINTS).strip()}"
    print(
        "| *goal* | "
        + " | ".join([goal_wer] * len(heads))
        + f" | - | ≥ original − {pct(GOAL_WAKE_POINTS).strip()} | - | - |"
    )
    for r in rows:
        cells = []
        for n in recognisers:
            ok = r.wer[n] <= base.wer[n] + GOAL_WER_POINTS + 1e-9
            draws = "/".join(pct(w).strip() for w in r.wer_draws[n])
            cells.append(f"{pct(r.wer[n])} {mark(ok)} ({draws})")
        wake_ok = r.wake_rate >= base.wake_rate - GOAL_WAKE_POINTS - 1e-9
        rtf = f"{r.compute_s / r.audio_s:.3f}" if r.audio_s else "-"
        cpu = f"{r.cpu_s / r.audio_s:.3f}" if r.audio_s else "-"
        print(
            f"| {r.name} | "
            + " | ".join(cells)
            + f" | {pct(r.changed)} | {pct(r.wake_rate)} {mark(wake_ok)} | {rtf} | {cpu} |"
        )


def pool_method(name: str) -> Disguiser:
    """The default method converting into the extra target voice ``name`` (see ``add_pools``)."""
    config = dg.KnnConfig(voices=(name,))
    return lambda pcm, rng: dg.disguise(pcm, dg.draw_knn_params(rng, config), RATE_HZ)


def add_pools(specs: list[str]) -> dict[str, Path]:
    """One config per ``NAME=PATH`` of ``--pool``; the pool is built when its config starts."""
    pools = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not name or not path:
            raise SystemExit(f"--pool wants NAME=PATH, got {spec!r}")
        pools[f"knnvc pool {name}"] = Path(path)
        CONFIGS[f"knnvc pool {name}"] = pool_method(f"pool {name}")
    return pools


def build_pool(config_name: str, path: Path) -> None:
    """Analyse the extra target voice at ``path`` into the process's voice cache (untimed)."""
    import soundfile as sf

    from overheard.protect import _voices

    name = config_name.removeprefix("knnvc ")
    x, rate = sf.read(path, dtype="float64")
    assert rate == RATE_HZ and x.ndim == 1, (path, rate, x.shape)
    start = time.perf_counter()
    _voices.VOICE_FILES[name] = path.name
    encoder = dg.KnnConfig().encoder
    _voices._loaded[name, encoder] = _voices.voice_from(name, x, encoder)
    print(
        f"pool {name}: {len(x) / RATE_HZ:.0f} s of speech from {path} built in"
        f" {time.perf_counter() - start:.0f} s",
        flush=True,
    )


def warm_up(fn: Disguiser) -> None:
    """One short disguise before timing: builds the shipped target pool (minutes) untimed."""
    start = time.perf_counter()
    tone = 3000 * np.sin(2 * np.pi * 150 * np.arange(RATE_HZ // 2) / RATE_HZ)
    fn(tone.astype(np.int16), np.random.default_rng(0))
    print(f"warm-up ({time.perf_counter() - start:.0f} s)", flush=True)


def pool_encoders() -> tuple[str, ...]:
    """The content encoders the knnvc configurations match with (the default's and version 4's)."""
    return tuple(sorted({dg.KnnConfig().encoder, KNN_V4.encoder, KNN_K8_SMOOTH.encoder}))


def chosen(args: argparse.Namespace) -> dict[str, Disguiser | None]:
    """The baseline plus the configurations ``--only`` names (case-insensitive)."""
    names = list(CONFIGS)
    if args.only is not None:
        names = [names[0]] + [n for n in names[1:] if any(wants(w, n) for w in args.only)]
    return {n: CONFIGS[n] for n in names}


def wants(word: str, name: str) -> bool:
    """``word`` names ``name``: the exact name, else a substring matching no exact name."""
    exact = {n.lower() for n in CONFIGS}
    word, name = word.lower(), name.lower()
    return word == name if word in exact else word in name


def build_tools(args: argparse.Namespace) -> dict:
    """Data, attackers (each split's UBM trained first), recognisers and the wake word."""
    per_speaker = 4 if args.quick else 10
    speakers = dd.speaker_set(per_speaker)
    splits = SPLITS if args.split is None else (args.split,)
    components = 32 if args.quick else sa.COMPONENTS
    cache = args.pool_cache
    ubm = dd.kept(
        cache,
        f"disguise-ubm-{'+'.join(splits)}-{per_speaker}-{components}.pkl",
        lambda: dd.Gmm(speakers, dd.background_clips(), components, splits).ubm,
    )
    attackers = [dd.Gmm.with_ubms(ubm)]
    if dd.dvector_available():
        attackers.insert(0, dd.DVector())
    else:
        print("d-vector attacker skipped: torch/resemblyzer (measurement extra) not installed")
    recognisers = [dd.Whisper()] + ([] if args.quick else [dd.Pocketsphinx()])
    tools = {
        "speakers": speakers,
        "asr": dd.asr_set(2 if args.quick else 5),
        "alexa": dd.wake_clips(args.wake_clips),
        "attackers": attackers,
        "recognisers": recognisers,
        "wake": dd.WakeWord(),
        "held_out_text": None,
        "splits": splits,
    }
    print("attackers ready", flush=True)
    tools["original_reps"] = dd.kept(
        cache,
        f"disguise-originals-{per_speaker}-{'+'.join(a.name for a in attackers)}.pkl",
        lambda: {a.name: [a.represent(c) for c in speakers.clips] for a in attackers},
    )
    if not args.quick:
        tools["held_out_text"] = dd.kept(
            cache,
            "disguise-held-out-text.pkl",
            lambda: {
                i: recognisers[0](c)
                for i, (c, o) in enumerate(zip(speakers.clips, speakers.owners, strict=True))
                if o in speakers.splits["held-out"]
            },
        )
    return tools


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wake-clips", type=int, default=50, help="alexa clips (every k-th of 200)"
    )
    parser.add_argument("--asr-draws", type=int, default=3, help="independent draws per ASR clip")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="configs to run (substring; the baseline always)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="development run: 4 utterances per speaker, 2 ASR clips, whisper only, small UBM",
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        help="disguise and score only this half's speakers (default: both)",
    )
    parser.add_argument(
        "--pool-cache",
        type=Path,
        metavar="DIR",
        help="read (or keep) here what every run computes alike: the shipped pool's WORLD"
        " analysis, the GMM-UBMs, the originals' representations and whisper transcripts",
    )
    parser.add_argument(
        "--pool-workers",
        type=int,
        default=1,
        help="with --pool-cache: processes analysing the pool when it is not cached (same result)",
    )
    parser.add_argument(
        "--pool",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also run the default method with the target voice read from PATH",
    )
    args = parser.parse_args()
    if args.quick:
        args.wake_clips, args.asr_draws = min(args.wake_clips, 10), 1
    return args


def main() -> None:
    from threadpoolctl import threadpool_limits

    args = parse()
    pools = add_pools(args.pool)
    start = time.perf_counter()
    with threadpool_limits(1):
        tools = build_tools(args)
        print(f"tools ready ({time.perf_counter() - start:.0f} s)", flush=True)
        if args.pool_cache is not None:
            dd.build_shipped_pools(pool_encoders(), args.pool_cache, args.pool_workers)
            print(f"pools ready ({time.perf_counter() - start:.0f} s)", flush=True)
        rows = []
        for name, fn in chosen(args).items():
            if name in pools:
                build_pool(name, pools[name])
            elif fn is not None:
                warm_up(fn)
            rows.append(measure(name, fn, tools, args))
            print(f"done: {name} ({time.perf_counter() - start:.0f} s): {rows[-1]}", flush=True)
    attackers = [a.name for a in tools["attackers"]]
    for split in tools["splits"]:
        print_eer_table(rows, split, attackers)
    print_asr_table(rows, [r.name for r in tools["recognisers"]])
    speakers = tools["speakers"]
    split_text = "; ".join(
        f"{k}: {', '.join(sorted(v, key=int))}" for k, v in speakers.splits.items()
    )
    print(
        f"\n{len(speakers.clips)} speaker utterances ({split_text}), {len(tools['asr'])} ASR clips"
        f" x {args.asr_draws} draws, {len(tools['alexa'])} alexa clips; seed {SEED};"
        f" total {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
