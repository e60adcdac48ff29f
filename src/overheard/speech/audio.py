"""Decode and validate uploaded audio into 16 kHz mono PCM16, refusing hostile input cheaply.

Bytes reach a decoder only when they start like a container we accept (WAV, FLAC, Ogg), so
libsndfile's other parsers never see untrusted input. A length stated by a header is used to refuse
early, never to size an allocation: samples are decoded in blocks, and decoding stops as soon as the
clip is over its limit, whatever the header said.

libFLAC (inside libsndfile) stops with a CRC or out-of-bounds error on some real recordings that
other decoders play correctly (e.g. clipped speech from older encoders); such FLAC is decoded again
with dr_flac (the ``miniaudio`` package), still under the same length cap.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from overheard.errors import AudioRejected, OverheardError, UnsupportedMedia

SAMPLE_RATE_HZ = 16000
INT16_FULL_SCALE = 32768
BLOCK_SECONDS = 1.0
"""Decode this much audio at a time, seconds."""

_UNKNOWN_FRAMES = 2**63 - 1  # libsndfile's SF_COUNT_MAX: a stream that does not state its length
_STREAMING_DATA_SIZES = frozenset({0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000})
"""WAV data-chunk sizes that streaming writers (ffmpeg, arecord, sox) leave for "until the end"."""
_WAV_FMT_BYTES = 16
"""Bytes of the fields every WAV ``fmt `` chunk starts with."""
_WAV_LINEAR_TAGS = frozenset({0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE})
"""PCM, IEEE float, A-law, mu-law and extensible: one sample per channel per frame."""
_WAV_MAX_BITS = 64
_MAX_WAV_CHUNKS_SCANNED = 64  # enough for real headers; bounds the work a body of tiny chunks costs
# MP3 stays out: libsndfile's mpg123 writes to the process's stderr for every damaged frame, so a
# hostile upload could flood the server log, and its frame counts are only estimates.
_ACCEPTED_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "FLAC", "OGG"})
_EXACT_LENGTH_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "FLAC"})
_SOUNDFILE_ERRORS = (sf.SoundFileError, RuntimeError, ValueError, TypeError, EOFError)


@dataclass(frozen=True)
class AudioLimits:
    """What an upload may be; anything outside is refused with a machine-readable code."""

    max_clip_seconds: float = 30.0
    """Longest accepted clip, seconds."""
    min_rate_hz: int = 8000
    """Lowest accepted source sample rate, Hertz."""
    max_rate_hz: int = 48000
    """Highest accepted source sample rate, Hertz."""
    max_channels: int = 2
    """Most channels accepted before downmixing."""


_NO_DURATION_CAP = AudioLimits(max_clip_seconds=math.inf)


@dataclass(frozen=True)
class Clip:
    """One decoded utterance, normalised, with what it was before."""

    pcm: np.ndarray
    """Samples, int16, mono, at SAMPLE_RATE_HZ."""
    source_rate_hz: int
    """Sample rate of the upload, Hertz."""
    source_channels: int
    """Channel count of the upload."""
    source_format: str
    """Container and encoding of the upload, e.g. ``"WAV/PCM_16"``, ``"OGG/VORBIS"``."""

    @property
    def duration_s(self) -> float:
        """Length of the normalised clip, seconds."""
        return len(self.pcm) / SAMPLE_RATE_HZ


@dataclass(frozen=True)
class _Header:
    """What a container states before any sample is decoded."""

    format: str
    subtype: str
    rate_hz: int
    channels: int
    frames: int
    """Stated length in frames; _UNKNOWN_FRAMES when the stream does not say."""


def decode_upload(data: bytes, limits: AudioLimits = AudioLimits()) -> Clip:
    """Decode one uploaded utterance; every refusal is an AudioRejected (or UnsupportedMedia)."""
    if not data:
        raise AudioRejected("the upload is empty", code="empty_audio")
    if _sniff_container(data) == "WAV":
        _check_wav_chunks(data)
    with _translated_errors(), _ForwardOnlyFile(io.BytesIO(data)) as source:
        header = _Header(
            source.format, source.subtype, source.samplerate, source.channels, source.frames
        )
        _check_header(header, limits)
        try:
            samples = _collect(_libsndfile_blocks(source, header), header, limits.max_clip_seconds)
        except sf.LibsndfileError as exc:
            if header.format != "FLAC":
                raise
            samples = _collect(_drflac_blocks(data, header, exc), header, limits.max_clip_seconds)
    pcm = _to_pcm16(_resample(_downmix(samples), header.rate_hz))
    pcm.flags.writeable = False
    return Clip(pcm, header.rate_hz, header.channels, f"{header.format}/{header.subtype}")


def read_audio_file(path: Path | str, limits: AudioLimits | None = None) -> Clip:
    """Decode an audio file; ``limits=None`` keeps the rate and channel limits, no length cap."""
    return decode_upload(Path(path).read_bytes(), _NO_DURATION_CAP if limits is None else limits)


def to_wav_bytes(pcm: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    """Encode int16 mono samples as a PCM16 WAV file."""
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ValueError(f"expected 1-D int16 samples, got {pcm.ndim}-D {pcm.dtype}")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate_hz)
        wav.writeframes(pcm.astype("<i2").tobytes())
    return out.getvalue()


def pcm_to_float(pcm: np.ndarray) -> np.ndarray:
    """Map int16 samples to float32 in [-1, 1)."""
    return pcm.astype(np.float32) / INT16_FULL_SCALE


def container_of(data: bytes) -> str:
    """``WAV``, ``FLAC`` or ``OGG``: the container ``data`` starts with (RF64 counts as WAV);
    UnsupportedMedia for anything else."""
    kind = _sniff_container(data)
    return "WAV" if kind == "RF64" else kind


def _sniff_container(data: bytes) -> str:
    """Name the container the bytes start with, or refuse them before any decoder sees them."""
    head = data[:12]
    if head[:4] in (b"RIFF", b"RF64") and (len(head) < 12 or head[8:12] == b"WAVE"):
        return "WAV" if head[:4] == b"RIFF" else "RF64"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "OGG"
    raise UnsupportedMedia("not audio in a format we decode (WAV, FLAC, Ogg Vorbis or Opus)")


def _check_wav_chunks(data: bytes) -> None:
    """Refuse a WAV whose ``fmt `` chunk contradicts itself, or whose data chunk claims more bytes
    than the body holds (libsndfile would trim it)."""
    pos = 12
    for _ in range(_MAX_WAV_CHUNKS_SCANNED):
        if pos + 8 > len(data):
            return
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        present = len(data) - pos - 8
        if data[pos : pos + 4] == b"fmt ":
            _check_wav_format(data[pos + 8 : pos + 8 + min(size, present)])
        if data[pos : pos + 4] == b"data":
            if size > present and size not in _STREAMING_DATA_SIZES:
                raise AudioRejected(
                    f"WAV data chunk declares {size} bytes but only {present} follow "
                    "(truncated upload or forged header)"
                )
            return
        pos += 8 + size + (size & 1)


def _check_wav_format(fmt: bytes) -> None:
    """Bits per sample, block align and byte rate must agree for sample-per-frame encodings."""
    if len(fmt) < _WAV_FMT_BYTES:
        raise AudioRejected("WAV fmt chunk is too short")
    tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", fmt[:_WAV_FMT_BYTES])
    if tag not in _WAV_LINEAR_TAGS:
        return  # block-coded encodings (ADPCM, GSM) define block align their own way
    expected_align = channels * math.ceil(bits / 8)
    if not 1 <= bits <= _WAV_MAX_BITS or align != expected_align or byte_rate != rate * align:
        raise AudioRejected(
            f"WAV header is inconsistent: {bits}-bit samples, {channels} channel(s), block align "
            f"{align} (expected {expected_align}), byte rate {byte_rate} (expected {rate * align})"
        )


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Turn anything libsndfile or soundfile raises into an AudioRejected."""
    try:
        yield
    except OverheardError:
        raise
    except _SOUNDFILE_ERRORS as exc:
        raise AudioRejected(f"the audio cannot be decoded: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """libsndfile's own words for a failure, without soundfile's prefix naming the buffer."""
    return str(getattr(exc, "error_string", exc))


def _check_header(header: _Header, limits: AudioLimits) -> None:
    """Refuse on what the header states, before any sample is decoded."""
    if header.format not in _ACCEPTED_FORMATS:
        raise UnsupportedMedia(f"{header.format} audio is not a format we decode")
    rate = header.rate_hz
    if not limits.min_rate_hz <= rate <= limits.max_rate_hz:
        raise AudioRejected(
            f"sample rate {rate} Hz is outside {limits.min_rate_hz}–{limits.max_rate_hz} Hz",
            code="unsupported_sample_rate",
        )
    if not 1 <= header.channels <= limits.max_channels:
        raise AudioRejected(
            f"{header.channels} channels; at most {limits.max_channels} are accepted",
            code="unsupported_channels",
        )
    if header.frames != _UNKNOWN_FRAMES and header.frames > limits.max_clip_seconds * rate:
        raise _too_long(header.frames / rate, limits.max_clip_seconds, "the header states")


def _collect(blocks: Iterable[np.ndarray], header: _Header, max_seconds: float) -> np.ndarray:
    """Gather float32 (frames, channels) blocks, stopping as soon as the clip is too long."""
    kept: list[np.ndarray] = []
    total = 0
    for block in blocks:
        if not np.isfinite(block).all():
            raise AudioRejected("the audio holds NaN or infinite samples")
        kept.append(block)
        total += block.shape[0]
        if total > max_seconds * header.rate_hz:
            raise _too_long(total / header.rate_hz, max_seconds, "decoding reached")
    stated = header.frames
    if header.format in _EXACT_LENGTH_FORMATS and stated != _UNKNOWN_FRAMES and total < stated:
        raise AudioRejected(f"the audio ends after {total} of the {stated} frames it states")
    if total == 0:
        raise AudioRejected("the upload holds no audio frames", code="empty_audio")
    return np.concatenate(kept)


def _block_frames(header: _Header) -> int:
    """Frames in one decoding block."""
    return max(1, int(BLOCK_SECONDS * header.rate_hz))


def _libsndfile_blocks(source: sf.SoundFile, header: _Header) -> Iterator[np.ndarray]:
    """Decode with libsndfile, one block at a time."""
    frames = _block_frames(header)
    while (block := source.read(frames, dtype="float32", always_2d=True)).shape[0]:
        yield block


def _drflac_blocks(data: bytes, header: _Header, cause: Exception) -> Iterator[np.ndarray]:
    """Decode a FLAC stream with dr_flac, one block at a time; ``cause`` is libsndfile's error."""
    try:
        import miniaudio
    except ImportError:
        raise AudioRejected(f"the audio cannot be decoded: {_reason(cause)}") from cause
    try:
        stream = miniaudio.stream_memory(
            data,
            miniaudio.SampleFormat.FLOAT32,
            header.channels,
            header.rate_hz,
            _block_frames(header),
        )
        try:
            for chunk in stream:
                yield np.frombuffer(chunk, np.float32).reshape(-1, header.channels)
        finally:
            stream.close()
    except miniaudio.MiniaudioError as exc:
        raise AudioRejected(f"the audio cannot be decoded: {_reason(cause)}") from exc


class _ForwardOnlyFile(sf.SoundFile):
    """A SoundFile read front to back only, so streams of unstated length decode too."""

    def seekable(self) -> bool:
        """Never seek: soundfile seeks after every read, which fails on an unstated-length FLAC."""
        return False


def _too_long(seconds: float, max_seconds: float, how: str) -> AudioRejected:
    """The clip_too_long refusal."""
    return AudioRejected(
        f"{how} {seconds:.1f} s of audio; at most {max_seconds:g} s are accepted",
        code="clip_too_long",
    )


def _downmix(samples: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array into one."""
    return samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1, dtype=np.float32)


def _resample(mono: np.ndarray, rate_hz: int) -> np.ndarray:
    """Resample to SAMPLE_RATE_HZ by the exact rational ratio of the two rates."""
    common = math.gcd(rate_hz, SAMPLE_RATE_HZ)
    up, down = SAMPLE_RATE_HZ // common, rate_hz // common
    if up == down:
        return mono
    # scipy.signal costs a web process tens of MiB; only uploads at another rate need it.
    from scipy.signal import resample_poly

    return resample_poly(mono, up, down)


def _to_pcm16(mono: np.ndarray) -> np.ndarray:
    """Scale float samples to int16, clipping what falls outside the range."""
    scaled = np.rint(mono * INT16_FULL_SCALE)
    return np.clip(scaled, -INT16_FULL_SCALE, INT16_FULL_SCALE - 1).astype(np.int16)
