"""Held-out figures of the default voice disguise (nearest-neighbour conversion) against the originals.

Run: python benchmarks/disguise_knnvc.py [--methods original,knnvc,world] [--wake-clips 24]

Speakers: the five LibriSpeech test-other speakers with the highest ids in numeric order (2414,
2609, 3005, 3080, 3331), the held-out half of benchmarks/disguise.py (until disguise version 3
this script sorted the ids as strings and held out 3005, 3080, 3331, 367, 533). Attacker:
resemblyzer d-vectors, leave-one-out mean enrolment, cosine, EER ("ignorant": enrolled on originals; "lazy-informed": enrolled on disguised clips, each its own draw). WER: whisper
tiny.en on asr/librivox (2 draws per clip); words changed: whisper's transcript of each held-out
utterance disguised with a second draw against its transcript of the original; wake: openWakeWord alexa_v0.1.
Needs the measurement extra and ../shared/data.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import time
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from overheard.protect import disguise as dg  # noqa: E402
from overheard.speech.asr import asr_from_spec  # noqa: E402

DATA = Path(os.environ.get("OVERHEARD_SHARED_DATA", ROOT.parent / "shared" / "data"))
SPEAKERS = DATA / "speakers" / "librispeech-test-other"
RATE_HZ = 16000
SEED = 20240601


def load(path: Path) -> np.ndarray:
    pcm, rate = sf.read(path, dtype="int16")
    assert rate == RATE_HZ and pcm.ndim == 1
    return pcm


def eer(scores: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    i = int(np.nanargmin(np.abs((1 - tpr) - fpr)))
    return float((fpr[i] + 1 - tpr[i]) / 2)


def loo_eer(enrol: np.ndarray, test: np.ndarray, owners: list[str]) -> float:
    who = np.array(owners)
    scores, labels = [], []
    for i in range(len(who)):
        for speaker in sorted(set(owners)):
            mask = who == speaker
            mask[i] = False
            centre = enrol[mask].mean(axis=0)
            scores.append(centre @ test[i] / np.linalg.norm(centre) / np.linalg.norm(test[i]))
            labels.append(int(speaker == who[i]))
    return eer(np.array(scores), np.array(labels))


def wake_fires(model, key: str, pcm: np.ndarray) -> bool:
    model.reset()
    audio = np.concatenate([np.zeros(RATE_HZ, np.int16), pcm])
    audio = np.pad(audio, (0, -len(audio) % 1280))
    best = max(float(model.predict(audio[s : s + 1280])[key]) for s in range(0, len(audio), 1280))
    return best >= 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="original,knnvc")
    parser.add_argument("--wake-clips", type=int, default=24)
    args = parser.parse_args()
    import openwakeword
    import torch
    from openwakeword.model import Model
    from resemblyzer import VoiceEncoder, preprocess_wav

    torch.set_num_threads(1)
    encoder = VoiceEncoder("cpu", verbose=False)
    embed = lambda pcm: encoder.embed_utterance(preprocess_wav(pcm / 32768.0, source_sr=RATE_HZ))  # noqa: E731
    held = sorted((p for p in SPEAKERS.iterdir() if p.is_dir()), key=lambda p: int(p.name))[5:]
    clips = [load(f) for d in held for f in sorted(d.glob("*.flac"))]
    owners = [d.name for d in held for _ in sorted(d.glob("*.flac"))]
    asr = asr_from_spec("whisper")
    norm = lambda t: " ".join(re.findall(r"[a-z']+", t.lower())) or "<empty>"  # noqa: E731
    librivox = []
    for line in (DATA / "asr" / "librivox" / "transcription").read_text().splitlines():
        fid = line.rsplit("(", 1)[1].rstrip(")")
        text = line.split("</s>")[0].replace("<s>", "")
        librivox.append((load(DATA / "asr" / "librivox" / f"{fid}.wav"), norm(text)))
    path = Path(openwakeword.__file__).parent / "resources" / "models" / "alexa_v0.1.onnx"
    wake = Model(wakeword_model_paths=[str(path)])
    alexa = []
    for f in sorted((DATA / "wakeword" / "alexa").glob("*.flac"), key=lambda p: int(p.stem)):
        if len(alexa) == args.wake_clips:
            break
        try:
            alexa.append(load(f))
        except sf.LibsndfileError:
            continue
    original_emb = np.array([embed(c) for c in clips])
    original_text = [norm(asr.transcribe(c).text) for c in clips]
    print(f"held-out speakers: {[d.name for d in held]}")
    print(
        "| method | EER ignorant % | EER lazy-informed % | WER librivox % | words changed % | wake % | RTF |"
    )
    print("|---|---|---|---|---|---|---|")
    for method in args.methods.split(","):
        rng = np.random.default_rng(SEED)
        spent, heard = 0.0, 0.0

        def run(
            pcm: np.ndarray, method: str = method, rng: np.random.Generator = rng
        ) -> np.ndarray:
            nonlocal spent, heard
            if method == "original":
                return pcm
            start = time.perf_counter()
            out = dg.disguise(pcm, dg.draw(rng, method))
            spent, heard = spent + time.perf_counter() - start, heard + len(pcm) / RATE_HZ
            return out

        disguised = [run(c) for c in clips]
        emb = np.array([embed(c) for c in disguised])
        changed = jiwer.wer(original_text, [norm(asr.transcribe(run(c)).text) for c in clips])
        refs, hyps = [], []
        for pcm, text in librivox:
            for _ in range(1 if method == "original" else 2):
                refs.append(text)
                hyps.append(norm(asr.transcribe(run(pcm)).text))
        fired = np.mean([wake_fires(wake, path.stem, run(c)) for c in alexa])
        rtf = f"{spent / heard:.3f}" if heard else "-"
        print(
            f"| {method} | {100 * loo_eer(original_emb, emb, owners):.1f} "
            f"| {100 * loo_eer(emb, emb, owners):.1f} | {100 * jiwer.wer(refs, hyps):.1f} "
            f"| {100 * changed:.1f} | {100 * fired:.1f} | {rtf} |",
            flush=True,
        )
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
