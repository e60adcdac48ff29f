"""Clips for the watermark benchmark: 1.5–3 s requests, split by speaker into tuning and held-out.

``fresh_clips`` is a second held-out set, drawn from recordings, sentences and voices that no
tuning or held-out run of any version used as marked clips (see its docstring).
"""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy.signal import resample_poly

RATE_HZ = 16000
CLIP_S = (1.5, 3.0)
"""Length range of the marked clips (what requests to an assistant last)."""
TUNE_LIBRI = ("1688", "1998", "2033", "2414", "2609")
"""LibriSpeech speakers the watermark was tuned on; the other five are held out."""
TUNE_VOICES = ("en-us", "en-gb", "en-us+f3")
"""espeak-ng voices the watermark was tuned on."""
HELD_VOICES = ("en-gb-scotland", "en-029", "en-us-nyc+f2", "en-gb-x-rp+m3", "en-gb-x-gbclan+f4")
"""espeak-ng voices never used for tuning."""
REQUESTS_PER_VOICE = 12
FRESH_VOICES = (
    "en-gb-x-gbcwmd",
    "en-gb-x-gbcwmd+f1",
    "en-us+m7",
    "en-gb+f4",
    "en-gb-x-rp+f5",
    "en-us+klatt2",
)
"""espeak-ng voices of the fresh set: none was used for tuning or in the held-out split."""
FRESH_PER_VOICE = 15
FRESH_WAKE_WORDS = 40
"""Recordings of the wake word alone (1.5–3 s, about 0.6 s of it speech) in the fresh set."""
EXCERPTS_PER_UTTERANCE = 2
FRESH_WAKE_FILES = (
    2, 19, 21, 22, 25, 27, 100, 103, 105, 106, 113, 115, 124, 125, 131, 139, 140, 146, 163, 176,
    180, 189, 192, 193, 195, 199, 201, 209, 217, 226, 230, 233, 238, 239, 247, 249, 251, 252, 256,
    278,
)  # fmt: skip
"""The ``wakeword/alexa`` recordings ``fresh_clips`` draws (seed 2026; ``test_wm_data`` checks it)."""
WAKE_SPLIT_SEED = 12
"""Splits the other ``wakeword/alexa`` recordings of 1.5–3 s in half: tuning and held out."""
WORD_S = 0.5
"""A ``wakeword/computer`` window keeps the word's loudest half second whole."""

Pcm = NDArray[np.int16]


@dataclass(frozen=True)
class Clip:
    """One clip and where it came from."""

    pcm: Pcm
    source: str
    """``librispeech/<speaker>`` or ``espeak/<voice>``."""

    @property
    def seconds(self) -> float:
        """Length, seconds."""
        return len(self.pcm) / RATE_HZ


def _read(path: Path) -> Pcm | None:
    try:
        pcm, rate = sf.read(path, dtype="int16", always_2d=True)
    except sf.LibsndfileError:
        return None  # a few crowd-sourced FLACs are truncated
    x = pcm[:, 0]
    if rate != RATE_HZ:
        x = np.clip(np.round(resample_poly(x.astype(np.float64), RATE_HZ, rate)), -32768, 32767)
    return np.ascontiguousarray(x.astype(np.int16))


def _excerpts(pcm: Pcm, rng: np.random.Generator) -> list[Pcm]:
    out = []
    for _ in range(EXCERPTS_PER_UTTERANCE):
        n = int(rng.uniform(*CLIP_S) * RATE_HZ)
        if len(pcm) > n:
            start = int(rng.integers(0, len(pcm) - n))
            out.append(pcm[start : start + n])
    return out


def librispeech(data: Path, held_out: bool, rng: np.random.Generator) -> list[Clip]:
    """Random 1.5–3 s excerpts of the held-out (or tuning) LibriSpeech speakers' utterances."""
    clips = []
    for folder in sorted((data / "speakers" / "librispeech-test-other").iterdir()):
        if not folder.is_dir() or (folder.name in TUNE_LIBRI) == held_out:
            continue
        for path in sorted(folder.glob("*.flac")):
            pcm = _read(path)
            if pcm is not None:
                clips += [Clip(x, f"librispeech/{folder.name}") for x in _excerpts(pcm, rng)]
    return clips


def _sentences(data: Path) -> list[str]:
    lines = (data / "nlu" / "slurp" / "devel.jsonl").read_text().splitlines()
    return [json.loads(line)["sentence"] for line in lines]


def espeak(data: Path, held_out: bool, rng: np.random.Generator) -> list[Clip]:
    """Synthesized requests (SLURP sentences) of 1.5–3 s, by voice."""
    sentences = _sentences(data)
    clips = []
    for voice in HELD_VOICES if held_out else TUNE_VOICES:
        made = 0
        for idx in rng.permutation(len(sentences)):
            pcm = _synth(sentences[idx], voice, int(rng.integers(140, 190)))
            if pcm is not None and CLIP_S[0] <= len(pcm) / RATE_HZ <= CLIP_S[1]:
                clips.append(Clip(pcm, f"espeak/{voice}"))
                made += 1
            if made == REQUESTS_PER_VOICE:
                break
    return clips


def _synth(text: str, voice: str, words_per_minute: int) -> Pcm | None:
    done = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "--stdout", text],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout:
        return None
    pcm, rate = sf.read(io.BytesIO(done.stdout), dtype="int16")
    x = resample_poly(pcm.astype(np.float64), RATE_HZ, rate)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _hwu64_sentences(data: Path) -> list[str]:
    """HWU64 requests (the user's wording), every fold."""
    sentences = []
    for path in sorted((data / "nlu" / "hwu64").glob("fold_*.csv")):
        for line in path.read_text().splitlines()[1:]:
            fields = line.split(";")
            if len(fields) >= 6:
                sentences.append(fields[4].strip('"'))
    return sentences


def _windows(pcm: Pcm, rng: np.random.Generator) -> list[Pcm]:
    """Consecutive, non-overlapping windows of random 1.5–3 s lengths (the whole clip if it fits)."""
    if CLIP_S[0] * RATE_HZ <= len(pcm) <= CLIP_S[1] * RATE_HZ:
        return [pcm]
    out, start = [], 0
    while True:
        n = int(rng.uniform(*CLIP_S) * RATE_HZ)
        if start + n > len(pcm):
            return out
        out.append(pcm[start : start + n])
        start += n


def fresh_clips(data: Path, seed: int) -> list[Clip]:
    """A held-out set no earlier run used as marked clips: never tuned on, never read before.

    - ``asr/<name>``: real read speech and commands of other speakers (``asr/librivox``,
      ``asr/cards``), cut into consecutive 1.5–3 s windows;
    - ``espeak-hwu64/<voice>``: HWU64 requests (SLURP's were used before) in espeak-ng voices
      used neither for tuning nor in the held-out split (``FRESH_VOICES``);
    - ``wakeword/alexa``: crowd-sourced recordings of the wake word alone, 1.5–3 s long, of which
      about 0.6 s is speech (harder than a request: most of a block is silence).

    These recordings were in the unmarked pool of the false-trace count (never marked there).
    """
    rng = np.random.default_rng(seed + 7)
    clips = []
    for folder in ("librivox", "cards"):
        for path in sorted((data / "asr" / folder).glob("*.wav")):
            pcm = _read(path)
            if pcm is not None:
                clips += [Clip(x, f"asr/{folder}") for x in _windows(pcm, rng)]
    sentences = _hwu64_sentences(data)
    for voice in FRESH_VOICES:
        made = 0
        for idx in rng.permutation(len(sentences)):
            pcm = _synth(sentences[idx], voice, int(rng.integers(140, 190)))
            if pcm is not None and CLIP_S[0] <= len(pcm) / RATE_HZ <= CLIP_S[1]:
                clips.append(Clip(pcm, f"espeak-hwu64/{voice}"))
                made += 1
            if made == FRESH_PER_VOICE:
                break
    wake = []
    for path in sorted((data / "wakeword" / "alexa").glob("*.flac")):
        pcm = _read(path)
        if pcm is not None and CLIP_S[0] <= len(pcm) / RATE_HZ <= CLIP_S[1]:
            wake.append(pcm)
    for idx in sorted(rng.choice(len(wake), size=min(FRESH_WAKE_WORDS, len(wake)), replace=False)):
        clips.append(Clip(wake[idx], "wakeword/alexa"))
    return clips


def wake_clips(data: Path, held_out: bool, seed: int) -> list[Clip]:
    """Single words alone in 1.5–3 s (what a wake word without a request is), never in the fresh set.

    The ``wakeword/alexa`` recordings of 1.5–3 s that ``fresh_clips`` does not draw, split in half
    (``WAKE_SPLIT_SEED``; the recordings name no speaker, so the halves may share speakers): one half
    to tune on, the other held out. The held-out split adds every ``wakeword/computer`` recording
    (a word no run has marked; most are 3.07 s long) cut to a random 1.5–3 s window that keeps the
    loudest ``WORD_S`` whole.
    """
    rest = []
    for path in sorted((data / "wakeword" / "alexa").glob("*.flac"), key=lambda p: int(p.stem)):
        pcm = _read(path) if int(path.stem) not in FRESH_WAKE_FILES else None
        if pcm is not None and CLIP_S[0] <= len(pcm) / RATE_HZ <= CLIP_S[1]:
            rest.append(pcm)
    order = np.random.default_rng(WAKE_SPLIT_SEED).permutation(len(rest))
    half = order[len(rest) // 2 :] if held_out else order[: len(rest) // 2]
    clips = [Clip(rest[i], "wakeword/alexa") for i in sorted(half)]
    if not held_out:
        return clips
    rng = np.random.default_rng(seed + 11)
    for path in sorted((data / "wakeword" / "computer").glob("*.wav")):
        pcm = _read(path)
        if pcm is not None and len(pcm) >= CLIP_S[0] * RATE_HZ:
            clips.append(Clip(_word_window(pcm, rng), "wakeword/computer"))
    return clips


def _word_window(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    """A random 1.5–3 s window of ``pcm`` (all of it if shorter) holding its loudest ``WORD_S``."""
    n = min(len(pcm), int(rng.uniform(*CLIP_S) * RATE_HZ))
    word = int(WORD_S * RATE_HZ)
    power = np.convolve(pcm.astype(np.float64) ** 2, np.ones(word), mode="valid")
    at = int(np.argmax(power))
    low, high = max(0, at + word - n), min(at, len(pcm) - n)
    start = int(rng.integers(low, high + 1)) if high >= low else max(0, min(at, len(pcm) - n))
    return pcm[start : start + n]


def marked_clips(data: Path, held_out: bool, seed: int) -> list[Clip]:
    """The clips to mark: LibriSpeech excerpts and synthesized requests of one split."""
    rng = np.random.default_rng(seed + int(held_out))
    return librispeech(data, held_out, rng) + espeak(data, held_out, rng)


def unmarked_pool(data: Path) -> list[Pcm]:
    """Every readable clip of the data set (speech, wake words, near misses), unmarked."""
    globs = [
        "speakers/librispeech-test-other/*/*.flac",
        "asr/librivox/*.wav",
        "asr/cards/*.wav",
        "wakeword/alexa/*.flac",
        "wakeword/computer/*.wav",
    ]
    clips = [_read(p) for g in globs for p in sorted(data.glob(g))]
    return [c for c in clips if c is not None]
