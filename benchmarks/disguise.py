"""Voice disguise: privacy (speaker-verification EER) against intelligibility (WER, wake word).

Run: python benchmarks/disguise.py [--wake-clips 50] [--asr-draws 3] [--only NAME ...]

Needs the measurement extra (torch==2.13.0, resemblyzer) and ../shared/data. The attacker is
resemblyzer's d-vector encoder; enrolment is the mean embedding of the speaker's *other* nine
utterances (leave-one-out), tested against every utterance, cosine scores, EER from the ROC.
"ignorant": enrol on originals, test disguised. "lazy-informed": enrol and test on disguised
audio, every utterance with its own independent draw. Per-sex EERs use same-sex trials only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from overheard.protect import disguise as dg  # noqa: E402
from overheard.protect._mcadams import mcadams  # noqa: E402

DATA = Path(os.environ.get("OVERHEARD_SHARED_DATA", ROOT.parent / "shared" / "data"))
SPEAKERS = DATA / "speakers" / "librispeech-test-other"
LIBRIVOX = DATA / "asr" / "librivox"
ALEXA = DATA / "wakeword" / "alexa"
RATE_HZ = 16000
WAKE_FRAME = 1280
WAKE_LEAD_S = 1.0
WAKE_THRESHOLD = 0.5
SEED = 20240601

Disguiser = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass
class Row:
    """One configuration's measured figures."""

    name: str
    eer_ignorant: float = float("nan")
    eer_lazy: float = float("nan")
    eer_ignorant_sex: dict[str, float] | None = None
    eer_lazy_sex: dict[str, float] | None = None
    wer: float = float("nan")
    wake_rate: float = float("nan")
    compute_s: float = 0.0
    audio_s: float = 0.0


def world(config: dg.DisguiseConfig) -> Disguiser:
    return lambda pcm, rng: dg.disguise(pcm, dg.draw_params(rng, config), RATE_HZ)


def mcadams_range(low: float, high: float) -> Disguiser:
    return lambda pcm, rng: mcadams(pcm, float(rng.uniform(low, high)), RATE_HZ)


V1_OFF = {"warp_power_range": (1.0, 1.0), "mcadams_alpha_range": (1.0, 1.0)}
"""The steps added after the first WORLD disguise, switched off (and drawing nothing)."""

CONFIGS: dict[str, Disguiser | None] = {
    "original (no disguise)": None,
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


def load(path: Path) -> np.ndarray:
    pcm, rate = sf.read(path, dtype="int16")
    assert rate == RATE_HZ and pcm.ndim == 1, path
    return pcm


def readable(paths: list[Path]) -> list[np.ndarray]:
    """The clips that decode; a few files in the wake-word set are damaged and are skipped."""
    out = []
    for path in paths:
        try:
            out.append(load(path))
        except sf.LibsndfileError:
            print(f"skipped undecodable {path.name}")
    return out


def speaker_set() -> tuple[list[np.ndarray], list[str], dict[str, str]]:
    sexes = {}
    for line in (SPEAKERS / "SPEAKERS.TXT").read_text().splitlines():
        if not line.startswith(";"):
            fields = [f.strip() for f in line.split("|")]
            sexes[fields[0]] = fields[1]
    clips, owners = [], []
    for folder in sorted(p for p in SPEAKERS.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.flac")):
            clips.append(load(path))
            owners.append(folder.name)
    return clips, owners, sexes


def asr_set() -> list[tuple[np.ndarray, str]]:
    out = []
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        text = line.split("</s>")[0].replace("<s>", "").strip()
        file_id = line.rsplit("(", 1)[1].rstrip(")")
        out.append((load(LIBRIVOX / f"{file_id}.wav"), text))
    return out


class Timer:
    """Accumulates seconds of disguise compute and seconds of audio disguised."""

    def __init__(self) -> None:
        self.compute_s = 0.0
        self.audio_s = 0.0

    def run(self, fn: Disguiser | None, pcm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if fn is None:
            return pcm
        start = time.perf_counter()
        out = fn(pcm, rng)
        self.compute_s += time.perf_counter() - start
        self.audio_s += len(pcm) / RATE_HZ
        assert out.dtype == np.int16 and len(out) == len(pcm)
        return out


def eer(scores: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    i = int(np.nanargmin(np.abs((1 - tpr) - fpr)))
    return float((fpr[i] + 1 - tpr[i]) / 2)


def loo_eer(enrol: np.ndarray, test: np.ndarray, owners: list[str], keep: set[str]) -> float:
    """EER over all trials whose test speaker and enrolled speaker are both in ``keep``."""
    who = np.array(owners)
    scores, labels = [], []
    for i in range(len(who)):
        if who[i] not in keep:
            continue
        for speaker in sorted(keep):
            mask = who == speaker
            mask[i] = False
            centre = enrol[mask].mean(axis=0)
            scores.append(centre @ test[i] / np.linalg.norm(centre) / np.linalg.norm(test[i]))
            labels.append(int(speaker == who[i]))
    return eer(np.array(scores), np.array(labels))


def pair_eer(emb: np.ndarray, owners: list[str]) -> float:
    """EER with per-utterance enrolment: every pair of distinct utterances is one trial."""
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sim = unit @ unit.T
    who = np.array(owners)
    upper = np.triu_indices(len(who), k=1)
    return eer(sim[upper], (who[:, None] == who[None, :])[upper].astype(int))


class Attacker:
    """Resemblyzer's speaker encoder (measurement only, never used by the server)."""

    def __init__(self) -> None:
        import torch
        from resemblyzer import VoiceEncoder, preprocess_wav

        torch.set_num_threads(1)
        self._encoder = VoiceEncoder("cpu", verbose=False)
        self._pre = preprocess_wav

    def embed(self, pcm: np.ndarray) -> np.ndarray:
        wav = self._pre(pcm.astype(np.float32) / 32768.0, source_sr=RATE_HZ)
        return self._encoder.embed_utterance(wav)


class Recogniser:
    """pocketsphinx with its default US-English model and generic language model."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder()

    def __call__(self, pcm: np.ndarray) -> str:
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.tobytes(), full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


class WakeWord:
    """openWakeWord's bundled alexa model; a clip fires if any frame scores >= the threshold."""

    def __init__(self) -> None:
        import openwakeword
        from openwakeword.model import Model

        path = Path(openwakeword.__file__).parent / "resources" / "models" / "alexa_v0.1.onnx"
        self._model = Model(wakeword_model_paths=[str(path)])
        self._key = path.stem

    def fires(self, pcm: np.ndarray) -> bool:
        self._model.reset()
        audio = np.concatenate([np.zeros(int(WAKE_LEAD_S * RATE_HZ), np.int16), pcm])
        audio = np.pad(audio, (0, -len(audio) % WAKE_FRAME))
        best = 0.0
        for start in range(0, len(audio), WAKE_FRAME):
            scores = self._model.predict(audio[start : start + WAKE_FRAME])
            best = max(best, float(scores[self._key]))
        return best >= WAKE_THRESHOLD


def measure(name: str, fn: Disguiser | None, tools: dict, args: argparse.Namespace) -> Row:
    import jiwer

    rng, timer, row = np.random.default_rng(SEED), Timer(), Row(name)
    clips, owners, sexes = tools["speakers"]
    emb = np.array([tools["attacker"].embed(timer.run(fn, c, rng)) for c in clips])
    original = tools["original_emb"]
    everyone = set(owners)
    by_sex = {s: {o for o in everyone if sexes[o] == s} for s in ("F", "M")}
    row.eer_ignorant = loo_eer(original, emb, owners, everyone)
    row.eer_lazy = loo_eer(emb, emb, owners, everyone)
    row.eer_ignorant_sex = {s: loo_eer(original, emb, owners, k) for s, k in by_sex.items()}
    row.eer_lazy_sex = {s: loo_eer(emb, emb, owners, k) for s, k in by_sex.items()}
    draws = 1 if fn is None else args.asr_draws
    refs, hyps = [], []
    for pcm, text in tools["asr"]:
        for _ in range(draws):
            hyps.append(tools["recognise"](timer.run(fn, pcm, rng)))
            refs.append(text)
    row.wer = float(jiwer.wer(refs, hyps))
    fired = [tools["wake"].fires(timer.run(fn, c, rng)) for c in tools["alexa"]]
    row.wake_rate = float(np.mean(fired))
    row.compute_s, row.audio_s = timer.compute_s, timer.audio_s
    return row


def pct(value: float) -> str:
    return f"{100 * value:5.1f}"


def print_table(rows: list[Row]) -> None:
    base = rows[0]
    print()
    header = (
        "| config | EER ignorant % (F/M) | EER lazy-informed % (F/M) | WER orig % | WER disg % "
        "| wake orig/disg % | RTF |"
    )
    print(header)
    print("|" + "---|" * 7)
    for r in rows:
        ign, lazy = r.eer_ignorant_sex or {}, r.eer_lazy_sex or {}
        rtf = f"{r.compute_s / r.audio_s:.3f}" if r.audio_s else "-"
        print(
            f"| {r.name} | {pct(r.eer_ignorant)} ({pct(ign['F'])}/{pct(ign['M'])}) "
            f"| {pct(r.eer_lazy)} ({pct(lazy['F'])}/{pct(lazy['M'])}) | {pct(base.wer)} "
            f"| {pct(r.wer)} | {pct(base.wake_rate)}/{pct(r.wake_rate)} | {rtf} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wake-clips", type=int, default=50, help="alexa clips (every k-th of 200)"
    )
    parser.add_argument("--asr-draws", type=int, default=3, help="independent draws per ASR clip")
    parser.add_argument("--only", nargs="*", default=None, help="config names to run (+ original)")
    args = parser.parse_args()
    start = time.perf_counter()
    alexa_paths = sorted(ALEXA.glob("*.flac"), key=lambda p: int(p.stem))
    step = max(1, len(alexa_paths) // args.wake_clips)
    tools = {
        "speakers": speaker_set(),
        "asr": asr_set(),
        "alexa": readable(alexa_paths[::step][: args.wake_clips]),
        "attacker": Attacker(),
        "recognise": Recogniser(),
        "wake": WakeWord(),
    }
    clips, owners, _ = tools["speakers"]
    tools["original_emb"] = np.array([tools["attacker"].embed(c) for c in clips])
    print(
        f"original vs original EER, leave-one-out mean enrolment: "
        f"{pct(loo_eer(tools['original_emb'], tools['original_emb'], owners, set(owners)))} %"
    )
    print(
        f"original vs original EER, per-utterance enrolment (all pairs): "
        f"{pct(pair_eer(tools['original_emb'], owners))} %"
    )
    rows = []
    for name, fn in CONFIGS.items():
        if fn is not None and args.only is not None and name not in args.only:
            continue
        rows.append(measure(name, fn, tools, args))
        print(f"done: {name} ({time.perf_counter() - start:.0f} s)", flush=True)
    print_table(rows)
    print(
        f"\n{len(clips)} speaker utterances, {len(tools['asr'])} ASR clips x {args.asr_draws} "
        f"draws, {len(tools['alexa'])} alexa clips; total {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
