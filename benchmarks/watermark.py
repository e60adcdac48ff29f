"""Leak-tracing watermark on 1.5–3 s requests: what survives a phone line, and what it costs.

    python benchmarks/watermark.py [--split heldout|fresh|wake|tune|wake-tune] [--unmarked 1000]
        [--data ../shared/data] [--transforms NAME,...] [--issued 10000]
        [--baseline v3-presence|v3-frames|v3-served|v3-preselected|v3-union|v2|v1|none]

Marks 1.5–3 s clips of speakers the watermark was never tuned on (LibriSpeech speakers and
espeak-ng voices held out, see ``_wm_data.py``) with the current watermark and, as the baseline of the
same run, an earlier one: by default (``--baseline v3-presence``) the same marks read as before the
tile features at the alignment as served (``watermark.DETECT_SERVED_TILES``: each frame's own
log-energy minus a 3 × 5 local mean there, as at every other alignment); ``v3-frames`` also without
the frame presence weight (``watermark.DETECT_PRESENCE``: noise-only frames vote as much as speech);
``v3-served`` as before the pooled budget (Viterbi's payloads need not be issued, the search has 2⁻²⁰ of the bound);
``v3-preselected`` as before the test at the alignment as served and the exactly summed tails
(Chernoff bounds over every alignment and the preselected ones); ``v3-union`` the search over every
alignment alone, as before the preselected alignments; ``v2`` or ``v1`` mark and read with an
earlier version. Each goal transform is applied alone; the table counts correct traces, wrong
traces and misses, then the rate by clip length. False traces are counted on at least 1,000
unmarked clips. Loudness and the serve-path cost (embed time against the time to decode the clip)
close the report. ``--split tune`` runs on the tuning speakers instead; ``--split fresh`` on a second
held-out set no earlier run marked (other recordings, sentences and voices; ``_wm_data.fresh_clips``),
whose rates are also printed by source; ``--split wake`` on single words alone in 1.5–3 s
(``_wm_data.wake_clips``: held-out ``wakeword/alexa`` recordings and every ``wakeword/computer``
one), ``--split wake-tune`` on the other half of the ``alexa`` recordings. The current watermark's
detector is given a table of ``--issued`` issued ids (the marked clips' ids and random others), as
``overheard trace`` gives it the ``watermarks`` table; 0 reads by Viterbi alone.
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy.signal import stft

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _wm_data import Clip, fresh_clips, marked_clips, unmarked_pool, wake_clips
from _wm_transforms import TRANSFORMS

from overheard.protect import _watermark_v1 as v1
from overheard.protect import _watermark_v2 as v2
from overheard.protect import watermark as v3
from overheard.speech.audio import decode_upload

Pcm = NDArray[np.int16]
KEY = b"benchmark server secret, 32 byte"
OTHER_KEY = b"another deployment's secret key!"
RATE_HZ = 16000
GOAL = 0.99
LENGTHS = ((1.5, 2.0), (2.0, 2.5), (2.5, 3.01))


@dataclass(frozen=True)
class Scheme:
    """One watermark under test."""

    name: str
    embed: Callable[[Pcm, int, bytes], Pcm]
    detect: Callable[[Pcm, bytes], object]
    payload_bits: int


CURRENT = Scheme("current", v3.embed, v3.detect, v3.PAYLOAD_BITS)
BASELINES = {
    "v3-presence": Scheme("baseline", v3.embed, v3.detect, v3.PAYLOAD_BITS),
    "v3-frames": Scheme("baseline", v3.embed, v3.detect, v3.PAYLOAD_BITS),
    "v3-served": Scheme("baseline", v3.embed, v3.detect, v3.PAYLOAD_BITS),
    "v3-preselected": Scheme("baseline", v3.embed, v3.detect, v3.PAYLOAD_BITS),
    "v3-union": Scheme("baseline", v3.embed, v3.detect, v3.PAYLOAD_BITS),
    "v2": Scheme("baseline", v2.embed, v2.detect, v2.PAYLOAD_BITS),
    "v1": Scheme("baseline", v1.embed, v1.detect, v1.PAYLOAD_BITS),
}
SCHEMES: tuple[Scheme, ...] = (CURRENT, BASELINES["v2"])
ISSUED: list[int] = []
"""Ids the current detector searches when Viterbi finds nothing (set in ``main``)."""


def with_issued(ids: list[int], rule: str = "current") -> Scheme:
    """The current watermark whose detector also searches ``ids`` (none: Viterbi alone).

    ``rule`` ``v3-presence``, ``v3-frames``, ``v3-served``, ``v3-preselected`` or ``v3-union`` is that
    baseline: the same marks read by an earlier rule. ``v3-presence``: without the tile features at
    the alignment as served. ``v3-frames``: also without the frame presence weight. ``v3-served``: Viterbi's payloads need not be issued and
    the search has 2⁻²⁰ of the bound (not the pooled budget); ``v3-preselected`` also without the
    alignment as served and the exact tails (Chernoff bounds alone); ``v3-union`` also without the
    preselected alignments.
    """
    name = "current" if rule == "current" else "baseline"
    among = v3.issued(ids, KEY) if ids else None

    def read(pcm: Pcm, key: bytes) -> object:
        saved = v3.ISSUED_PRESELECTED, v3.ISSUED_AS_SERVED, v3.ISSUED_REFINED, v3.ISSUED_POOLED
        presence, tiles = v3.DETECT_PRESENCE, v3.DETECT_SERVED_TILES
        if rule != "current":
            v3.DETECT_SERVED_TILES = False
        if rule not in ("current", "v3-presence"):
            v3.DETECT_PRESENCE = False
        if rule not in ("current", "v3-presence", "v3-frames"):
            v3.ISSUED_POOLED = False
        if rule in ("v3-preselected", "v3-union"):
            v3.ISSUED_AS_SERVED, v3.ISSUED_REFINED = False, 0
        if rule == "v3-union":
            v3.ISSUED_PRESELECTED = 0
        try:
            return v3.detect(pcm, key, among=among)
        finally:
            v3.ISSUED_PRESELECTED, v3.ISSUED_AS_SERVED, v3.ISSUED_REFINED, v3.ISSUED_POOLED = saved
            v3.DETECT_PRESENCE, v3.DETECT_SERVED_TILES = presence, tiles

    return Scheme(name, v3.embed, read, v3.PAYLOAD_BITS)


def readers(payloads: list[int]) -> list[Scheme]:
    """The current detector (with the issued ids) and the baseline's."""
    table = _table(payloads)
    for rule in ("v3-presence", "v3-frames", "v3-served", "v3-preselected", "v3-union"):
        if SCHEMES[1:] and SCHEMES[1] is BASELINES[rule]:
            return [with_issued(table), with_issued(table, rule)]
    return [with_issued(table), *SCHEMES[1:]]


def masking_margin_db(original: Pcm, marked: Pcm) -> tuple[float, float]:
    """Mark-to-speech ratio per 32 ms frame and 1/3-octave band (300–3400 Hz), speech frames.

    Returns (median, 95th percentile) in dB: how far the change stays under the speech's own
    short-time spectrum where it is placed.
    """
    _, _, s = stft(original.astype(np.float64), RATE_HZ, nperseg=512)
    _, _, m = stft(marked.astype(np.float64) - original, RATE_HZ, nperseg=512)
    freqs = np.fft.rfftfreq(512, 1 / RATE_HZ)
    edges = 300 * 2 ** (np.arange(0, 11) / 3)
    ps, pm = np.abs(s) ** 2, np.abs(m) ** 2
    frame_power = ps.sum(axis=0)
    active = frame_power > 10 ** (-3) * frame_power.max()
    ratios = []
    for lo, hi in itertools.pairwise(edges):
        band = (freqs >= lo) & (freqs < min(hi, 3400))
        if band.any():
            num = pm[band][:, active].sum(axis=0) + 1e-9
            den = ps[band][:, active].sum(axis=0) + 1e-9
            ratios.append(10 * np.log10(num / den))
    flat = np.concatenate(ratios)
    return float(np.median(flat)), float(np.percentile(flat, 95))


def _flac(pcm: Pcm) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, pcm, RATE_HZ, format="FLAC")
    return buf.getvalue()


def mark_all(clips: list[Clip], scheme: Scheme, rng: np.random.Generator) -> tuple[list, list]:
    """Marked copies and their payloads; prints loudness and embed cost against decode."""
    payloads = [int(rng.integers(0, 2**scheme.payload_bits)) for _ in clips]
    marked, embed_s, decode_s, msr, margins = [], [], [], [], []
    for clip, payload in zip(clips, payloads, strict=True):
        data = _flac(clip.pcm)
        t0 = time.perf_counter()
        decode_upload(data)
        t1 = time.perf_counter()
        out = scheme.embed(clip.pcm, payload, KEY)
        embed_s.append(time.perf_counter() - t1)
        decode_s.append(t1 - t0)
        marked.append(out)
        msr.append(v3.mark_to_signal_db(clip.pcm, out))
        margins.append(masking_margin_db(clip.pcm, out))
    audio_s = sum(c.seconds for c in clips)
    print(
        f"{scheme.name:>8}: mark-to-signal median {np.median(msr):.1f} dB "
        f"(quietest {min(msr):.1f}, loudest {max(msr):.1f}); per frame × 1/3-octave band "
        f"median {np.median([m[0] for m in margins]):.1f} dB, "
        f"95th pct {np.median([m[1] for m in margins]):.1f} dB; embed "
        f"{1000 * np.mean(embed_s):.1f} ms/clip = {sum(embed_s) / sum(decode_s):.1f}× the FLAC "
        f"decode ({1000 * np.mean(decode_s):.1f} ms), real-time factor {sum(embed_s) / audio_s:.4f}"
    )
    return marked, payloads


def robustness(clips: list[Clip], names: list[str], rng: np.random.Generator) -> None:
    """Per transform: traced / wrong / missed for both schemes, then the current one by length."""
    marks = {"current": mark_all(clips, CURRENT, rng)}
    for scheme in SCHEMES[1:]:
        # The v3-presence, v3-frames, v3-served, v3-preselected and v3-union baselines read the same
        # marked and transformed clips.
        same = scheme.embed is CURRENT.embed
        marks[scheme.name] = marks["current"] if same else mark_all(clips, scheme, rng)
    schemes = readers(marks["current"][1])
    print(
        f"\n{'transform':<22} {'goal':>5} {'current':>16} {'wrong':>5} {'baseline':>16} {'wrong':>5}"
    )
    by_length: dict[str, list[str]] = {}
    by_source: dict[str, list[str]] = {}
    scores: dict[str, tuple[list[float], list[float]]] = {}
    detect_s = 0.0
    for name in names:
        transform = TRANSFORMS[name]
        row, hits = [], []
        attacks: dict[int, Pcm] = {}
        for scheme in schemes:
            marked, payloads = marks[scheme.name]
            correct, wrong = [], 0
            for out, payload in zip(marked, payloads, strict=True):
                if id(out) not in attacks:
                    attacks[id(out)] = transform(out, rng)
                attacked = attacks[id(out)]
                t0 = time.perf_counter()
                trace = scheme.detect(attacked, KEY)
                found = trace.payload  # type: ignore[attr-defined]
                detect_s += (time.perf_counter() - t0) * (scheme.name == "current")
                if scheme.name == "current":
                    hit_or_miss = scores.setdefault(name, ([], []))[found != payload]
                    hit_or_miss.append(trace.score)  # type: ignore[attr-defined]
                correct.append(found == payload)
                wrong += found is not None and found != payload
            row.append(f"{sum(correct):>4}/{len(clips)} {np.mean(correct):>6.1%} {wrong:>5}")
            hits.append(correct)
        print(f"{name:<22} {GOAL:>5.0%} " + " ".join(f"{r:>22}" for r in row), flush=True)
        by_length[name] = _by_length(clips, hits[0])
        by_source[name] = _by_source(clips, hits)
    print(
        f"\ncurrent watermark by clip length ({', '.join(f'{a}–{min(b, 3.0)} s' for a, b in LENGTHS)}):"
    )
    for name, cells in by_length.items():
        print(f"{name:<22} " + "  ".join(cells))
    groups = sorted({_group(c) for c in clips})
    if len(groups) > 1:
        print(f"\nby source, current (baseline) ({', '.join(groups)}):")
        for name, cells in by_source.items():
            print(f"{name:<22} " + "  ".join(cells))
    print(f"detect: {detect_s / (len(clips) * len(names)):.2f} s per clip (current)")
    print("\ncurrent watermark, best Viterbi metric (5th / 50th / 95th percentile):")
    for name, (traced, missed) in scores.items():
        print(f"{name:<22} traced {_quantiles(traced)}   missed {_quantiles(missed)}")


def _quantiles(values: list[float]) -> str:
    if not values:
        return f"{'none':>17}"
    return "/".join(f"{q:.3f}" for q in np.percentile(values, [5, 50, 95])) + f" ({len(values)})"


def _by_length(clips: list[Clip], hits: list[bool]) -> list[str]:
    cells = []
    for lo, hi in LENGTHS:
        picked = [h for c, h in zip(clips, hits, strict=True) if lo <= c.seconds < hi]
        rate = np.mean(picked) if picked else float("nan")
        cells.append(f"{sum(picked):>3}/{len(picked):<3} {rate:>6.1%}")
    return cells


def _group(clip: Clip) -> str:
    return clip.source.split("/")[0]


def _by_source(clips: list[Clip], hits: list[list[bool]]) -> list[str]:
    """Traced / clips per source group for the current watermark (the baseline's in brackets)."""
    cells = []
    for group in sorted({_group(c) for c in clips}):
        picked = [i for i, c in enumerate(clips) if _group(c) == group]
        counts = [sum(h[i] for i in picked) for h in hits]
        extra = f" ({counts[1]})" if len(counts) > 1 else ""
        cells.append(f"{counts[0]:>3}{extra}/{len(picked):<3}")
    return cells


def unmarked_set(data: Path, clips: list[Clip], count: int, rng: np.random.Generator) -> list[Pcm]:
    """Every clip of the data set, the request clips, excerpts at random gains, other-key marks."""
    pool = unmarked_pool(data) + [c.pcm for c in clips]
    foreign = [v3.embed(c.pcm, int(rng.integers(0, 2**24)), OTHER_KEY) for c in clips[:50]]
    foreign += [v1.embed(c.pcm, int(rng.integers(0, 2**32)), KEY) for c in clips[50:100]]
    extra = []
    while len(pool) + len(extra) + len(foreign) < count:
        clip = pool[int(rng.integers(0, len(pool)))]
        n = int(rng.uniform(1.0, 3.0) * RATE_HZ)
        start = int(rng.integers(0, max(1, len(clip) - n)))
        gain = 10 ** (float(rng.uniform(-6, 6)) / 20)
        extra.append(
            np.clip(np.round(clip[start : start + n] * gain), -32768, 32767).astype(np.int16)
        )
    return pool + extra + foreign


def _table(payloads: list[int]) -> list[int]:
    """``ISSUED[0]`` issued ids: the given payloads and random others (empty when 0).

    Drawn from a generator of its own, so the transforms see the same noise with or without it.
    """
    if not ISSUED or ISSUED[0] == 0:
        return []
    others = np.random.default_rng(ISSUED[0]).choice(2**24, size=ISSUED[0], replace=False)
    taken = set(payloads)
    fill = [int(i) for i in others if int(i) not in taken]
    return [*payloads, *fill[: max(0, ISSUED[0] - len(payloads))]]


def false_traces(unmarked: list[Pcm]) -> None:
    """Print how many unmarked clips yield a payload under each scheme."""
    hours = sum(len(c) for c in unmarked) / RATE_HZ / 3600
    print(f"\nfalse traces on {len(unmarked)} unmarked clips ({hours:.2f} h; goal 0):")
    for scheme in readers([]):
        found = [scheme.detect(c, KEY) for c in unmarked]
        false = sum(t.payload is not None for t in found)  # type: ignore[attr-defined]
        bound = found[0].false_positive_bound  # type: ignore[attr-defined]
        metric = _quantiles([t.score for t in found])  # type: ignore[attr-defined]
        print(
            f"{scheme.name:>8}: {false} (analytic bound {bound:.1e} per clip; best Viterbi "
            f"metric 5th/50th/95th percentile {metric})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--split", choices=("heldout", "fresh", "wake", "tune", "wake-tune"), default="heldout"
    )
    parser.add_argument("--unmarked", type=int, default=1000, help="unmarked clips (0: skip)")
    default_data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--transforms", default=",".join(TRANSFORMS), help="comma-separated subset ('' for none)"
    )
    parser.add_argument("--baseline", choices=(*BASELINES, "none"), default="v3-presence")
    parser.add_argument("--issued", type=int, default=10000, help="issued ids to search (0: none)")
    args = parser.parse_args()
    ISSUED.append(args.issued)
    global SCHEMES
    SCHEMES = (CURRENT,) if args.baseline == "none" else (CURRENT, BASELINES[args.baseline])
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    if args.split == "fresh":
        clips = fresh_clips(args.data, seed=args.seed)
    elif args.split.startswith("wake"):
        clips = wake_clips(args.data, held_out=args.split == "wake", seed=args.seed)
    else:
        clips = marked_clips(args.data, held_out=args.split == "heldout", seed=args.seed)
    sources = sorted({c.source for c in clips})
    print(f"{len(clips)} clips of 1.5–3 s ({args.split}: {', '.join(sources)})\n")
    names = [n for n in args.transforms.split(",") if n]
    if names:
        robustness(clips, names, rng)
    if args.unmarked:
        false_traces(unmarked_set(args.data, clips, args.unmarked, rng))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
