"""Data and measuring tools of the disguise benchmark: the speaker split, ASR sets, attackers, wake word."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("OVERHEARD_SHARED_DATA", ROOT.parent / "shared" / "data"))
SPEAKERS = DATA / "speakers" / "librispeech-test-other"
LIBRIVOX = DATA / "asr" / "librivox"
ALEXA = DATA / "wakeword" / "alexa"
COMPUTER = DATA / "wakeword" / "computer"
RATE_HZ = 16000
WAKE_FRAME = 1280
WAKE_LEAD_S = 1.0
WAKE_THRESHOLD = 0.5

Pcm = NDArray[np.int16]
T = TypeVar("T")


def kept(cache: Path | None, name: str, make: Callable[[], T]) -> T:
    """``make()``; with a ``cache`` folder, what an earlier run kept there under ``name`` (made and
    kept when absent). The files are this benchmark's own pickles, read by nothing else."""
    if cache is None:
        return make()
    path = cache / name
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)  # written by this benchmark into the given folder
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as f:
        pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)
    return value


def load(path: Path) -> Pcm:
    """A 16 kHz mono clip as int16 samples."""
    pcm, rate = sf.read(path, dtype="int16")
    assert rate == RATE_HZ and pcm.ndim == 1, path
    return pcm


def readable(paths: list[Path]) -> list[Pcm]:
    """The clips that decode; a few files in the wake-word set are damaged and are skipped."""
    out = []
    for path in paths:
        try:
            out.append(load(path))
        except sf.LibsndfileError:
            print(f"skipped undecodable {path.name}")
    return out


@dataclass
class SpeakerSet:
    """LibriSpeech utterances with their speakers, split by speaker into tuning and held-out."""

    clips: list[Pcm]
    owners: list[str]
    sexes: dict[str, str]
    """Speaker id -> "F" or "M"."""
    splits: dict[str, set[str]]
    """"tuning" and "held-out" -> speaker ids."""


def speaker_set(per_speaker: int = 10) -> SpeakerSet:
    """The 10 LibriSpeech speakers; ids in numeric order, the first five are the tuning half."""
    sexes = {}
    for line in (SPEAKERS / "SPEAKERS.TXT").read_text().splitlines():
        if not line.startswith(";"):
            fields = [f.strip() for f in line.split("|")]
            sexes[fields[0]] = fields[1]
    ids = sorted((p.name for p in SPEAKERS.iterdir() if p.is_dir()), key=int)
    clips, owners = [], []
    for speaker in ids:
        for path in sorted((SPEAKERS / speaker).glob("*.flac"))[:per_speaker]:
            clips.append(load(path))
            owners.append(speaker)
    half = len(ids) // 2
    splits = {"tuning": set(ids[:half]), "held-out": set(ids[half:])}
    return SpeakerSet(clips, owners, {s: sexes[s] for s in ids}, splits)


def background_clips() -> list[Pcm]:
    """Wake-word recordings of 50+ other speakers ("alexa", "computer"), for the UBM only."""
    alexa = sorted(ALEXA.glob("*.flac"), key=lambda p: int(p.stem))
    return readable(alexa + sorted(COMPUTER.glob("*.wav")))


def wake_clips(count: int) -> list[Pcm]:
    """``count`` alexa recordings, every k-th of the 200, the undecodable ones skipped."""
    paths = sorted(ALEXA.glob("*.flac"), key=lambda p: int(p.stem))
    step = max(1, len(paths) // count)
    return readable(paths[::step][:count])


def asr_set(count: int) -> list[tuple[Pcm, str]]:
    """The first ``count`` librivox clips with their reference transcripts."""
    out = []
    for line in (LIBRIVOX / "transcription").read_text().splitlines()[:count]:
        text = line.split("</s>")[0].replace("<s>", "").strip()
        file_id = line.rsplit("(", 1)[1].rstrip(")")
        out.append((load(LIBRIVOX / f"{file_id}.wav"), text))
    return out


def dvector_available() -> bool:
    """Whether the d-vector attacker can run (torch and resemblyzer, the measurement extra)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "resemblyzer"))


class DVector:
    """Resemblyzer's speaker encoder (measurement only, never used by the server)."""

    name = "d-vector"

    def __init__(self) -> None:
        import torch
        from resemblyzer import VoiceEncoder, preprocess_wav

        torch.set_num_threads(1)
        self._encoder = VoiceEncoder("cpu", verbose=False)
        self._pre = preprocess_wav

    def represent(self, pcm: Pcm) -> NDArray[np.float32]:
        """The utterance's d-vector."""
        wav = self._pre(pcm.astype(np.float32) / 32768.0, source_sr=RATE_HZ)
        return self._encoder.embed_utterance(wav)

    def trials(
        self, enrol: list, test: list, owners: list[str], keep: set[str], split: str
    ) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
        """Cosine scores of each test clip against each speaker's mean enrolment d-vector
        (leave-one-out: the tested utterance is never in its own speaker's enrolment)."""
        enrol_a, test_a, who = np.array(enrol), np.array(test), np.array(owners)
        scores, labels = [], []
        for i in np.flatnonzero(np.isin(who, sorted(keep))):
            for speaker in sorted(keep):
                mask = who == speaker
                mask[i] = False
                centre = enrol_a[mask].mean(axis=0)
                t = test_a[i]
                scores.append(centre @ t / np.linalg.norm(centre) / np.linalg.norm(t))
                labels.append(int(speaker == who[i]))
        return np.array(scores), np.array(labels)


class Gmm:
    """The MFCC GMM-UBM attacker; each split's UBM is trained on the *other* split's speakers
    (original audio) plus the wake-word recordings, never on the speakers it evaluates."""

    name = "GMM-UBM"

    def __init__(
        self,
        speakers: SpeakerSet,
        background: list[Pcm],
        components: int,
        splits: tuple[str, ...] | None = None,
    ) -> None:
        """A UBM for each of ``splits`` (default: every split of ``speakers``)."""
        import _speaker_attack as sa

        self._sa = sa
        bg = [sa.features(c) for c in background]
        feats = [sa.features(c) for c in speakers.clips]
        self.ubm = {}
        for split in splits or tuple(speakers.splits):
            members = speakers.splits[split]
            others = [f for f, o in zip(feats, speakers.owners, strict=True) if o not in members]
            self.ubm[split] = sa.GmmUbm(components).fit(bg + others)

    @classmethod
    def with_ubms(cls, ubm: dict) -> Gmm:
        """The attacker with UBMs trained earlier (split -> ``_speaker_attack.GmmUbm``)."""
        import _speaker_attack as sa

        gmm = cls.__new__(cls)
        gmm._sa, gmm.ubm = sa, dict(ubm)
        return gmm

    def represent(self, pcm: Pcm) -> NDArray[np.float64]:
        """The utterance's normalised MFCC frames."""
        return self._sa.features(pcm)

    def trials(
        self, enrol: list, test: list, owners: list[str], keep: set[str], split: str
    ) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
        """Log-likelihood-ratio scores, leave-one-out MAP enrolment (see _speaker_attack)."""
        return self._sa.loo_trials(self.ubm[split], enrol, test, owners, keep)


class Whisper:
    """The platform's default recogniser, built from its spec as the server builds it."""

    name = "whisper"

    def __init__(self) -> None:
        from overheard.speech.asr import DEFAULT_SPEC, asr_from_spec

        self._backend = asr_from_spec(DEFAULT_SPEC)

    def __call__(self, pcm: Pcm) -> str:
        """The transcript, lowercase spoken words."""
        return self._backend.transcribe(pcm).text


class Pocketsphinx:
    """pocketsphinx with its default US-English model and generic language model."""

    name = "pocketsphinx"

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder()

    def __call__(self, pcm: Pcm) -> str:
        """The best hypothesis, lowercase words."""
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

    def fires(self, pcm: Pcm) -> bool:
        """Whether the wake word fires anywhere in the clip (after 1 s of leading silence)."""
        self._model.reset()
        audio = np.concatenate([np.zeros(int(WAKE_LEAD_S * RATE_HZ), np.int16), pcm])
        audio = np.pad(audio, (0, -len(audio) % WAKE_FRAME))
        best = 0.0
        for start in range(0, len(audio), WAKE_FRAME):
            scores = self._model.predict(audio[start : start + WAKE_FRAME])
            best = max(best, float(scores[self._key]))
        return best >= WAKE_THRESHOLD


def _analyse_piece(piece: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray]:
    """WORLD F0 and coded envelope/aperiodicity of one piece (a worker process's task)."""
    from overheard.protect import _knnvc, _voices, _world

    analysis = _world.analyse(piece, _voices.SAMPLE_RATE_HZ)
    env, ap = _knnvc.code(analysis, _voices.SAMPLE_RATE_HZ)
    return analysis.f0_hz, env, ap


def analyse_coded(x: NDArray[np.float64], workers: int = 1) -> tuple[NDArray, NDArray, NDArray]:
    """``_voices.analyse_coded(x)``, its pieces shared among ``workers`` processes (the pieces are
    analysed independently, so the result is the same)."""
    from concurrent.futures import ProcessPoolExecutor
    from itertools import pairwise

    from overheard.protect import _knnvc, _voices

    if workers <= 1:
        return _voices.analyse_coded(x)
    bounds = _voices.cuts(x)
    with ProcessPoolExecutor(workers) as pool:
        done = list(pool.map(_analyse_piece, [x[a:b] for a, b in pairwise(bounds)]))
    f0s, envs, aps = [], [], []
    for i, ((start, end), (f0, env, ap)) in enumerate(zip(pairwise(bounds), done, strict=True)):
        keep = len(env) if i == len(bounds) - 2 else (end - start) // _knnvc.FRAME_SAMPLES
        f0s.append(f0[:keep])
        envs.append(env[:keep])
        aps.append(ap[:keep])
    return np.concatenate(f0s), np.concatenate(envs), np.concatenate(aps)


def build_shipped_pools(encoders: tuple[str, ...], cache: Path | None, workers: int = 1) -> None:
    """The shipped voice's pool for each content encoder, put in the process's voice cache.

    The pool's WORLD analysis (minutes) is computed as ``_voices.analyse_coded`` computes it (in
    ``workers`` processes), once for all encoders, and kept in ``cache`` (a folder) when given so
    that later runs read it.
    """
    from overheard.protect import _content, _knnvc, _voices

    x = _voices.read_speech("joe")
    path = cache / "joe_world.npz" if cache else None
    if path is not None and path.exists():
        saved = np.load(path)
        f0, env, ap = saved["f0"], saved["env"], saved["ap"]
    else:
        f0, env, ap = analyse_coded(x, workers)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, f0=f0, env=env, ap=ap)
    window = _voices.WINDOW_MEL_FRAMES // _content.ENCODER_STRIDE
    for encoder in encoders:
        feats = _voices.features(x, encoder)
        _voices._loaded["joe", encoder] = _knnvc.build_coded_voice(
            "joe", f0, env, ap, feats, window
        )
