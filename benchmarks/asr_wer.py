"""Word error rate and real-time factor of the pocketsphinx recognisers.

Run: .venv/bin/python benchmarks/asr_wer.py [--data ../shared/data] [--every 3]
Rows: the generic en-us model (the baseline), the seed-request domain model alone, and the default
(domain with generic fallback); the JSGF grammar on the cards set; espeak-ng requests (three voices)
for training phrasings and held-out phrasings. WER is lowercase, punctuation dropped (jiwer).
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
from pocketsphinx import Decoder
from scipy.signal import resample_poly

from overheard.speech._pocketsphinx import PocketsphinxBackend, _config
from overheard.speech.asr import AsrBackend, asr_from_spec
from overheard.speech.lm import build_language_model
from overheard.speech.seed import seed_requests

SAMPLE_RATE_HZ = 16000
ESPEAK_VOICES = ("en-us", "en-gb", "en+f3")
NOISE_FLOOR = 0.002
"""About -54 dBFS: synthetic speech has digital silence no microphone produces."""
PAD_SAMPLES = 3200
Clip = tuple[str, np.ndarray]


def normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z']+", text.lower())) or "<empty>"


def read_set(folder: Path, transcription: str) -> list[Clip]:
    clips = []
    for line in (folder / transcription).read_text().splitlines():
        text, _, fileid = line.rpartition("(")
        ref = text.replace("<s>", "").replace("</s>", "").strip()
        pcm, rate = sf.read(folder / f"{fileid.strip(' )')}.wav", dtype="int16")
        assert rate == SAMPLE_RATE_HZ
        clips.append((ref, pcm))
    return clips


def synthesise(text: str, voice: str, rng: np.random.Generator) -> np.ndarray:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
    )
    audio, _ = sf.read(io.BytesIO(wav.stdout), dtype="float32")
    pad = np.zeros(PAD_SAMPLES, np.float32)
    audio = np.concatenate([pad, resample_poly(audio, 320, 441).astype(np.float32), pad])
    audio += rng.normal(0, NOISE_FLOOR, audio.shape).astype(np.float32)
    return (audio * 32767).clip(-32768, 32767).astype(np.int16)


def score(asr: AsrBackend, clips: Sequence[Clip]) -> tuple[float, float, float]:
    """(WER, real-time factor, share of utterances answered by the domain model)."""
    hyps, domain, started = [], 0, time.perf_counter()
    for _, pcm in clips:
        transcript = asr.transcribe(pcm)
        hyps.append(normalise(transcript.text))
        domain += transcript.model.endswith("domain")
    elapsed = time.perf_counter() - started
    audio_s = sum(len(pcm) for _, pcm in clips) / SAMPLE_RATE_HZ
    wer = jiwer.wer([normalise(ref) for ref, _ in clips], hyps)
    return wer, elapsed / audio_s, domain / len(clips)


def table(title: str, clips: Sequence[Clip], rows: dict[str, AsrBackend]) -> None:
    words = sum(len(ref.split()) for ref, _ in clips)
    print(f"\n{title}: {len(clips)} utterances, {words} words")
    print("| recogniser | WER | real-time factor | domain share |\n| --- | --- | --- | --- |")
    for label, asr in rows.items():
        wer, rtf, share = score(asr, clips)
        print(f"| {label} | {wer:.3f} | {rtf:.3f} | {share:.2f} |")


def domain_only(folder: Path) -> AsrBackend:
    files = build_language_model((r.text for r in seed_requests("train")), folder)
    decoder = Decoder(**_config(lm=str(files.lm_path), dict=str(files.dict_path)))
    return PocketsphinxBackend((("domain", decoder),), name="pocketsphinx:domain-only")


def espeak_set(texts: Sequence[str]) -> list[Clip]:
    rng = np.random.default_rng(0)
    return [(t, synthesise(t, v, rng)) for t in texts for v in ESPEAK_VOICES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1].parent / "shared" / "data"
    )
    parser.add_argument("--every", type=int, default=3, help="use every Nth seed request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows: dict[str, AsrBackend] = {
            "generic (baseline)": asr_from_spec("pocketsphinx:generic"),
            "domain only": domain_only(Path(tmp)),
            "default (domain + fallback)": asr_from_spec("pocketsphinx"),
        }
    asr_dir = args.data / "asr"
    if asr_dir.is_dir():
        table("librivox", read_set(asr_dir / "librivox", "transcription"), rows)
        grammar = {
            "JSGF grammar": asr_from_spec(f"pocketsphinx:{asr_dir / 'cards' / 'cards.gram'}")
        }
        table("cards", read_set(asr_dir / "cards", "cards.transcription"), rows | grammar)
    else:
        print(f"evaluation data not found at {asr_dir}: librivox and cards skipped")
    if shutil.which("espeak-ng") is None:
        print("espeak-ng not installed: synthetic requests skipped")
        return
    train = [r.text for r in seed_requests("train")][:: args.every * 4]
    held = [r.text for r in seed_requests("heldout")][:: args.every]
    table(f"espeak-ng, training phrasings ({', '.join(ESPEAK_VOICES)})", espeak_set(train), rows)
    table(f"espeak-ng, held-out phrasings ({', '.join(ESPEAK_VOICES)})", espeak_set(held), rows)


if __name__ == "__main__":
    main()
