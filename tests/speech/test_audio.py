"""Decoding and validating uploaded audio: hostile bytes are refused cleanly, messy audio decodes."""

from __future__ import annotations

import gzip
import io
import math
import struct
import tarfile
import time
import tracemalloc
import wave
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overheard.errors import AudioRejected, OverheardError, UnsupportedMedia
from overheard.speech.audio import (
    SAMPLE_RATE_HZ,
    AudioLimits,
    Clip,
    decode_upload,
    pcm_to_float,
    read_audio_file,
    to_wav_bytes,
)

Tone = Callable[..., np.ndarray]
Encode = Callable[..., bytes]
Build = Callable[[Tone, Encode], bytes]
ONE_HOUR_S = 3600


def _patch_wav_data_size(wav: bytes, size: int) -> bytes:
    """The same WAV with its data-chunk size field replaced."""
    at = wav.index(b"data") + 4
    return wav[:at] + struct.pack("<I", size) + wav[at + 4 :]


def _flac_without_length(flac: bytes) -> bytes:
    """The same FLAC with STREAMINFO's total-samples field zeroed, as streaming encoders leave it."""
    at = 8 + 10  # "fLaC" + block header, then min/max block and frame sizes
    packed = int.from_bytes(flac[at : at + 8], "big") & ~((1 << 36) - 1)
    return flac[:at] + packed.to_bytes(8, "big") + flac[at + 8 :]


def _long_silent_flac(seconds: float, rate_hz: int = 8000) -> bytes:
    """A real FLAC of silence; it compresses to a few kilobytes per minute."""
    out = io.BytesIO()
    minute = np.zeros(rate_hz * 60, np.int16)
    with sf.SoundFile(out, "w", rate_hz, 1, format="FLAC", subtype="PCM_16") as flac:
        for _ in range(math.ceil(seconds / 60)):
            flac.write(minute)
    return out.getvalue()


def _float_wav_with(value: float) -> Build:
    """A 32-bit float WAV holding one bad sample in the middle."""

    def build(tone: Tone, encode: Encode) -> bytes:
        samples = tone()
        samples[len(samples) // 2] = value
        return encode(samples, subtype="FLOAT")

    return build


def _zip(tone: Tone, encode: Encode) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("clip.wav", encode(tone()))
    return out.getvalue()


def _tar(tone: Tone, encode: Encode) -> bytes:
    out, wav = io.BytesIO(), encode(tone())
    with tarfile.open(fileobj=out, mode="w") as archive:
        info = tarfile.TarInfo("clip.wav")
        info.size = len(wav)
        archive.addfile(info, io.BytesIO(wav))
    return out.getvalue()


def _png(tone: Tone, encode: Encode) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0"))


HOSTILE: list[tuple[str, Build, type[AudioRejected], str]] = [
    ("empty body", lambda t, e: b"", AudioRejected, "empty_audio"),
    ("WAV of zero frames", lambda t, e: e(np.zeros(0, np.float32)), AudioRejected, "empty_audio"),
    ("FLAC of zero frames", lambda t, e: e(np.zeros(0), fmt="FLAC"), AudioRejected, "empty_audio"),
    ("WAV cut at 4 bytes", lambda t, e: e(t())[:4], AudioRejected, "malformed_audio"),
    ("WAV cut at 20 bytes", lambda t, e: e(t())[:20], AudioRejected, "malformed_audio"),
    ("WAV cut at 30 bytes", lambda t, e: e(t())[:30], AudioRejected, "malformed_audio"),
    ("WAV cut mid-samples", lambda t, e: e(t())[:5000], AudioRejected, "malformed_audio"),
    ("FLAC cut at 30 bytes", lambda t, e: e(t(), fmt="FLAC")[:30], AudioRejected, "malformed_audio"),
    ("FLAC cut at 42 bytes", lambda t, e: e(t(), fmt="FLAC")[:42], AudioRejected, "malformed_audio"),
    ("FLAC cut mid-frame", lambda t, e: e(t(), fmt="FLAC")[:3000], AudioRejected, "malformed_audio"),
    (
        "WAV claiming a 4 GB data chunk",
        lambda t, e: _patch_wav_data_size(e(t()), 0xFFFFFFF0),
        AudioRejected,
        "malformed_audio",
    ),
    ("float WAV with NaN", _float_wav_with(math.nan), AudioRejected, "malformed_audio"),
    ("float WAV with +inf", _float_wav_with(math.inf), AudioRejected, "malformed_audio"),
    ("float WAV with -inf", _float_wav_with(-math.inf), AudioRejected, "malformed_audio"),
    ("96 kHz", lambda t, e: e(t(rate_hz=96000), 96000), AudioRejected, "unsupported_sample_rate"),
    ("4 kHz", lambda t, e: e(t(100, rate_hz=4000), 4000), AudioRejected, "unsupported_sample_rate"),
    ("8 channels", lambda t, e: e(t(channels=8)), AudioRejected, "unsupported_channels"),
    ("31 s WAV", lambda t, e: e(t(seconds=31, rate_hz=8000), 8000), AudioRejected, "clip_too_long"),
    ("zip archive", _zip, UnsupportedMedia, "unsupported_media"),
    ("tar archive", _tar, UnsupportedMedia, "unsupported_media"),
    ("gzip", lambda t, e: gzip.compress(e(t())), UnsupportedMedia, "unsupported_media"),
    ("PNG", _png, UnsupportedMedia, "unsupported_media"),
    ("text", lambda t, e: b"hello, this is not audio\n" * 40, UnsupportedMedia, "unsupported_media"),
    ("MP3", lambda t, e: e(t(), fmt="MP3", subtype="MPEG_LAYER_III"), UnsupportedMedia, "unsupported_media"),
    ("AIFF", lambda t, e: e(t(), fmt="AIFF"), UnsupportedMedia, "unsupported_media"),
    ("RIFF but AVI", lambda t, e: b"RIFF\x10\0\0\0AVI LIST" + bytes(8), UnsupportedMedia, "unsupported_media"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "error", "code"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
def test_hostile_upload_is_refused_with_its_code(
    build: Build, error: type[AudioRejected], code: str, tone: Tone, encode_audio: Encode
) -> None:
    with pytest.raises(AudioRejected) as caught:
        decode_upload(build(tone, encode_audio))
    assert type(caught.value) is error
    assert caught.value.code == code
    assert caught.value.status == (415 if error is UnsupportedMedia else 422)
    assert caught.value.message and "BytesIO" not in caught.value.message


@pytest.fixture(scope="module")
def hour_long_flac() -> bytes:
    """An hour of real FLAC (silence at 8 kHz), about 90 kB."""
    return _long_silent_flac(ONE_HOUR_S)


def test_an_hour_long_flac_is_refused_from_its_header_without_decoding(
    hour_long_flac: bytes,
) -> None:
    flac = hour_long_flac
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(AudioRejected) as caught:
        decode_upload(flac)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert caught.value.code == "clip_too_long"
    assert "header" in caught.value.message
    assert elapsed < 0.5
    assert peak < 1_000_000  # an hour at 8 kHz decoded as float32 would be 115 MB


def test_a_stream_of_unstated_length_stops_decoding_at_the_limit(hour_long_flac: bytes) -> None:
    flac = _flac_without_length(hour_long_flac)
    assert sf.info(io.BytesIO(flac)).frames > ONE_HOUR_S * 8000  # libsndfile cannot tell
    tracemalloc.start()
    with pytest.raises(AudioRejected) as caught:
        decode_upload(flac, AudioLimits(max_clip_seconds=5.0))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert caught.value.code == "clip_too_long"
    assert "decoding reached" in caught.value.message
    assert peak < 1_000_000  # six seconds at 8 kHz as float32 is 192 kB


@given(st.binary(max_size=4096))
@settings(max_examples=300, deadline=None)
def test_any_bytes_give_a_clip_or_a_deliberate_error(data: bytes) -> None:
    try:
        clip = decode_upload(data)
    except OverheardError as refusal:
        assert isinstance(refusal, AudioRejected)
    else:
        assert clip.pcm.dtype == np.int16 and clip.pcm.ndim == 1


_SEEDS = {
    "wav": ("WAV", "PCM_16", 16000),
    "float wav": ("WAV", "FLOAT", 22050),
    "adpcm wav": ("WAV", "IMA_ADPCM", 16000),
    "flac": ("FLAC", "PCM_24", 44100),
    "vorbis": ("OGG", "VORBIS", 16000),
    "opus": ("OGG", "OPUS", 48000),
}


@pytest.mark.parametrize("seed", list(_SEEDS))
@given(edits=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 4096))  # fmt: skip
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_damaged_real_containers_give_a_clip_or_a_deliberate_error(
    seed: str, edits: list[tuple[int, int]], cut: int, tone: Tone, encode_audio: Encode
) -> None:
    fmt, subtype, rate = _SEEDS[seed]
    data = bytearray(encode_audio(tone(rate_hz=rate, seconds=0.2), rate, fmt, subtype))
    for at, value in edits:
        data[at % len(data)] = value
    try:
        clip = decode_upload(bytes(data[: len(data) - cut]))
    except OverheardError as refusal:
        assert isinstance(refusal, AudioRejected)
    else:
        assert clip.pcm.dtype == np.int16 and clip.pcm.ndim == 1


def _dominant_hz(pcm: np.ndarray) -> float:
    """Frequency of the strongest spectral peak of a 16 kHz clip, Hertz."""
    spectrum = np.abs(np.fft.rfft(pcm_to_float(pcm) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / SAMPLE_RATE_HZ)[np.argmax(spectrum)])


@pytest.mark.parametrize("rate_hz", [8000, 11025, 22050, 32000, 44100, 48000])
def test_resampling_keeps_a_tone_at_its_frequency(
    rate_hz: int, tone: Tone, encode_audio: Encode
) -> None:
    clip = decode_upload(encode_audio(tone(1000.0, seconds=1.0, rate_hz=rate_hz), rate_hz))
    assert clip.source_rate_hz == rate_hz
    assert len(clip.pcm) == SAMPLE_RATE_HZ
    assert _dominant_hz(clip.pcm) == pytest.approx(1000.0, abs=2.0)
    middle = pcm_to_float(clip.pcm[2000:-2000])
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / math.sqrt(2), rel=0.01)


def test_pcm16_at_16_khz_passes_through_bit_exact() -> None:
    pcm = np.random.default_rng(7).integers(-32768, 32768, 8000).astype(np.int16)
    clip = decode_upload(to_wav_bytes(pcm))
    assert np.array_equal(clip.pcm, pcm)
    assert (clip.source_format, clip.source_rate_hz, clip.source_channels) == (
        "WAV/PCM_16",
        16000,
        1,
    )
    assert clip.duration_s == 0.5
    assert not clip.pcm.flags.writeable


@pytest.mark.parametrize(
    ("fmt", "subtype", "tolerance"),
    [
        ("WAV", "PCM_U8", 256),
        ("WAV", "PCM_24", 1),
        ("WAV", "PCM_32", 1),
        ("WAV", "FLOAT", 1),
        ("WAV", "DOUBLE", 1),
        ("WAV", "ULAW", 1100),
        ("WAVEX", "PCM_16", 1),
        ("FLAC", "PCM_16", 0),
        ("FLAC", "PCM_24", 1),
        ("OGG", "VORBIS", None),
        ("OGG", "OPUS", None),
    ],
)
def test_every_accepted_encoding_decodes_to_the_same_tone(
    fmt: str, subtype: str, tolerance: int | None, tone: Tone, encode_audio: Encode
) -> None:
    """Lossless encodings match sample for sample (within quantisation); lossy ones by pitch and level."""
    samples = tone(440.0, seconds=0.5)
    clip = decode_upload(encode_audio(samples, fmt=fmt, subtype=subtype))
    expected = np.rint(samples * 32768).astype(int)
    assert clip.source_format == f"{fmt}/{subtype}"
    assert len(clip.pcm) == len(expected)
    if tolerance is not None:
        assert np.max(np.abs(clip.pcm.astype(int) - expected)) <= tolerance
    assert _dominant_hz(clip.pcm) == pytest.approx(440.0, abs=4.0)
    level = np.sqrt(np.mean(pcm_to_float(clip.pcm[1000:-1000]) ** 2))
    assert level == pytest.approx(0.5 / math.sqrt(2), rel=0.1)


def test_stereo_is_downmixed_by_averaging(encode_audio: Encode) -> None:
    left, right = np.full(1600, 0.5, np.float32), np.full(1600, 0.25, np.float32)
    clip = decode_upload(encode_audio(np.stack([left, right], axis=1)))
    assert clip.source_channels == 2
    assert np.all(clip.pcm == 12288)  # (0.5 + 0.25) / 2 of full scale


def test_out_of_phase_stereo_cancels(tone: Tone, encode_audio: Encode) -> None:
    left = tone()
    clip = decode_upload(encode_audio(np.stack([left, -left], axis=1)))
    assert np.max(np.abs(clip.pcm)) <= 1


def test_dc_offset_decodes_and_keeps_its_offset(tone: Tone, encode_audio: Encode) -> None:
    clip = decode_upload(encode_audio(tone(amplitude=0.2) + 0.3))
    assert float(np.mean(pcm_to_float(clip.pcm))) == pytest.approx(0.3, abs=0.002)


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_clipped_audio_decodes_within_the_int16_range(
    subtype: str, tone: Tone, encode_audio: Encode
) -> None:
    clip = decode_upload(encode_audio(tone(amplitude=1.8), subtype=subtype))
    assert clip.pcm.max() == 32767 and clip.pcm.min() == -32768
    assert np.mean(np.abs(clip.pcm.astype(int)) >= 32767) > 0.6  # flat tops, as recorded


@pytest.mark.parametrize("size", [0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000], ids=hex)
def test_wav_from_a_streaming_writer_decodes_to_its_end(
    size: int, tone: Tone, encode_audio: Encode
) -> None:
    wav = encode_audio(tone(seconds=1.5))
    clip = decode_upload(_patch_wav_data_size(wav, size))
    assert clip.duration_s == 1.5


def test_flac_of_unstated_length_decodes(tone: Tone, encode_audio: Encode) -> None:
    flac = encode_audio(tone(seconds=1.25), fmt="FLAC")
    clip = decode_upload(_flac_without_length(flac))
    assert clip.duration_s == 1.25
    assert np.array_equal(clip.pcm, decode_upload(flac).pcm)


def test_wav_with_extra_chunks_before_its_samples_decodes(tone: Tone, encode_audio: Encode) -> None:
    wav = encode_audio(tone())
    info = b"junk" + struct.pack("<I", 3) + b"abc" + b"\0"  # odd size, so one pad byte
    at = wav.index(b"data")
    patched = wav[:4] + struct.pack("<I", len(wav) - 8 + len(info)) + wav[8:at] + info + wav[at:]
    assert decode_upload(patched).duration_s == 0.5


def test_limits_are_configurable(tone: Tone, encode_audio: Encode) -> None:
    eight = encode_audio(tone(channels=8))
    assert decode_upload(eight, AudioLimits(max_channels=8)).source_channels == 8
    with pytest.raises(AudioRejected) as caught:
        decode_upload(encode_audio(tone(seconds=2.0)), AudioLimits(max_clip_seconds=1.0))
    assert caught.value.code == "clip_too_long"


def test_read_audio_file_has_no_length_cap_unless_given(
    tmp_path: Path, tone: Tone, encode_audio: Encode
) -> None:
    path = tmp_path / "long.flac"
    path.write_bytes(encode_audio(tone(seconds=40.0, rate_hz=8000), 8000, "FLAC"))
    assert read_audio_file(path).duration_s == 40.0
    assert read_audio_file(str(path)).source_format == "FLAC/PCM_16"
    with pytest.raises(AudioRejected, match="at most 30 s"):
        read_audio_file(path, AudioLimits())


def test_to_wav_bytes_writes_plain_pcm16_mono() -> None:
    pcm = np.array([0, 1, -1, 32767, -32768], np.int16)
    data = to_wav_bytes(pcm, rate_hz=8000)
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert np.array_equal(np.frombuffer(wav.readframes(5), "<i2"), pcm)
    with pytest.raises(ValueError, match="int16"):
        to_wav_bytes(pcm.astype(np.float32))


def test_pcm_to_float_maps_int16_onto_the_unit_interval() -> None:
    out = pcm_to_float(np.array([-32768, 0, 16384, 32767], np.int16))
    assert out.dtype == np.float32
    assert out.tolist() == [-1.0, 0.0, 0.5, 32767 / 32768]
    assert out.max() < 1.0


def test_clip_duration_is_its_length_at_16_khz() -> None:
    clip = Clip(np.zeros(24000, np.int16), 44100, 2, "WAV/PCM_16")
    assert clip.duration_s == 1.5


REAL_FOLDERS = [
    "wakeword/alexa",
    "wakeword/computer",
    "speakers/librispeech-test-other",
    "asr/librivox",
    "asr/cards",
]


@pytest.mark.data
@pytest.mark.parametrize("folder", REAL_FOLDERS)
def test_real_recordings_all_decode_with_their_durations(shared_data: Path, folder: str) -> None:
    paths = sorted(p for p in (shared_data / folder).rglob("*") if p.suffix in (".wav", ".flac"))
    assert paths
    for path in paths:
        clip = decode_upload(path.read_bytes())
        stated = sf.info(str(path))
        assert abs(clip.duration_s - stated.duration) < 0.001, path
        assert clip.source_rate_hz == stated.samplerate
        assert np.abs(clip.pcm).max() > 100, path  # speech, not silence


@pytest.mark.data
def test_flac_that_libflac_refuses_decodes_identically_where_libflac_could(
    shared_data: Path,
) -> None:
    checked = 0
    for path in sorted((shared_data / "wakeword/alexa").glob("*.flac")):
        prefix = _libflac_prefix(path)
        if prefix is None:
            continue
        clip = decode_upload(path.read_bytes())
        assert np.array_equal(clip.pcm[: len(prefix)], prefix), path
        checked += 1
    assert checked > 0, "no recording exercises the second FLAC decoder any more"


class _ForwardOnly(sf.SoundFile):
    def seekable(self) -> bool:
        return False  # soundfile seeks after every read, which is slow on FLAC


def _libflac_prefix(path: Path) -> np.ndarray | None:
    """What libsndfile decodes before it gives up on a file, or None when it reads it whole."""
    decoded: list[np.ndarray] = []
    with _ForwardOnly(str(path)) as source:
        while True:
            try:
                block = source.read(1024, dtype="int16")
            except sf.LibsndfileError:
                return np.concatenate(decoded) if decoded else np.zeros(0, np.int16)
            if not len(block):
                return None
            decoded.append(block)
