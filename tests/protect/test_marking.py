"""The serving path's watermarking keeps each clip's id-free analysis and marks byte for byte alike."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray

from overheard.protect import _marking, watermark
from overheard.protect.tracing import read_mark

KEY = b"test server secret for the marks"
CLIPS = ["1688-142285-0007.flac", "2609-156975-0009.flac", "3005-163389-0006.flac"]


@pytest.fixture(scope="module")
def speech(shared_data: Path) -> list[NDArray[np.int16]]:
    """Real utterances (LibriSpeech test-other), one cut to 2.3 s, and a loud saturating copy."""
    root = shared_data / "speakers" / "librispeech-test-other"
    clips = [sf.read(next(root.glob(f"*/{name}")), dtype="int16")[0] for name in CLIPS]
    loud = np.clip(clips[0].astype(np.int32) * 8, -32768, 32767).astype(np.int16)
    return [*clips, clips[1][: int(2.3 * 16000)], loud]


def test_same_bytes_as_watermark_embed_on_first_serve_and_replays(
    speech: list[NDArray[np.int16]],
) -> None:
    cache = _marking.AnalysisCache()
    for i, pcm in enumerate(speech):
        ref = (f"disguised/h/rec{i}/nonce", 0.0, len(pcm) / 16000)
        for payload in (0, 0xC0FFEE + i, 2**24 - 1):
            want = watermark.embed(pcm, payload, KEY)
            got = _marking.embed(pcm, payload, KEY, ref, cache)
            assert got.dtype == np.int16
            assert np.array_equal(got, want), (i, payload)
    assert cache.misses == len(speech)
    assert cache.hits == 2 * len(speech)


def test_a_first_measurement_made_before_gives_the_same_bytes(
    speech: list[NDArray[np.int16]],
) -> None:
    """The rendition job keeps ``first_measurement`` with the clip; a serve's analysis takes it
    instead of measuring, and marks exactly as ``watermark.embed`` does. One of another clip's
    shape is not taken."""
    for i, pcm in enumerate(speech):
        tiles = _marking.first_measurement(pcm)
        assert tiles is not None
        analysis = _marking.analyse(pcm, tiles)
        assert analysis is not None and analysis.first_tiles is tiles
        cache = _marking.AnalysisCache()
        ref = (f"disguised/h/rec{i}/nonce", 0.0, len(pcm) / 16000)
        for payload in (1, 0xABCDEF - i):
            got = _marking.embed(pcm, payload, KEY, ref, cache, first_tiles=tiles)
            assert np.array_equal(got, watermark.embed(pcm, payload, KEY)), (i, payload)
    odd = _marking.analyse(speech[0], np.zeros((3, 3)))
    assert odd is not None and odd.first_tiles.shape == watermark.FIRST_TILES_SHAPE


def test_a_kept_analysis_is_traced_to_its_own_serve(speech: list[NDArray[np.int16]]) -> None:
    cache = _marking.AnalysisCache()
    ref = ("disguised/h/rec/nonce", 0.0, 9.0)
    first = _marking.embed(speech[0], 0x123456, KEY, ref, cache)
    second = _marking.embed(speech[0], 0x654321, KEY, ref, cache)
    assert read_mark(first, KEY).payload == 0x123456
    assert read_mark(second, KEY).payload == 0x654321


def test_silence_short_clips_and_bad_payloads_behave_as_watermark_embed() -> None:
    cache = _marking.AnalysisCache()
    silence = np.zeros(16000, dtype=np.int16)
    short = np.full(100, 300, dtype=np.int16)
    for pcm in (silence, short):
        assert np.array_equal(_marking.embed(pcm, 5, KEY, ("k", 0.0, 1.0), cache), pcm)
    assert len(cache) == 0
    with pytest.raises(Exception, match="24 bits"):
        _marking.embed(short, 2**24, KEY, ("k", 0.0, 1.0), cache)


def test_the_cache_is_bounded_and_forgets_a_recording(speech: list[NDArray[np.int16]]) -> None:
    one = _marking.analyse(speech[3])
    assert one is not None
    cache = _marking.AnalysisCache(max_bytes=2 * one.nbytes + 1)
    for i in range(3):
        cache.put((f"disguised/h/rec{i}/n", 0.0, 2.3), one)
    assert len(cache) == 2
    assert cache.get(("disguised/h/rec0/n", 0.0, 2.3)) is None  # the oldest went
    cache.forget(["rec1"])
    assert cache.get(("disguised/h/rec1/n", 0.0, 2.3)) is None
    assert cache.get(("disguised/h/rec2/n", 0.0, 2.3)) is not None


def test_an_analysis_made_across_a_drop_of_its_recording_is_not_kept(
    speech: list[NDArray[np.int16]],
) -> None:
    """A serve takes the marker before it reads the rendition; a drop of its recording since then
    (a removal committing while it marks) leaves nothing kept, a drop of another one does not."""
    one = _marking.analyse(speech[3])
    assert one is not None
    cache = _marking.AnalysisCache()
    ref = ("disguised/h/rec1/n", 0.0, 2.3)
    before = cache.marker()
    cache.forget(["rec1"])
    cache.put(ref, one, unless_dropped_since=before)
    assert cache.get(ref) is None
    before = cache.marker()
    cache.forget(["rec2"])
    cache.put(ref, one, unless_dropped_since=before)
    assert cache.get(ref) is not None
    before = cache.marker()
    for i in range(_marking.DROPS_KEPT + 1):  # more drops than are remembered: keep nothing
        cache.forget([f"other{i}"])
    cache.put(("disguised/h/rec3/n", 0.0, 2.3), one, unless_dropped_since=before)
    assert cache.get(("disguised/h/rec3/n", 0.0, 2.3)) is None


def test_an_analysis_is_kept_no_longer_than_its_age_limit(speech: list[NDArray[np.int16]]) -> None:
    """Another process's deletion never reaches this cache: the age limit bounds what stays."""
    one = _marking.analyse(speech[3])
    assert one is not None
    now = [0.0]
    cache = _marking.AnalysisCache(max_age_s=900.0, clock=lambda: now[0])
    cache.put(("disguised/h/rec0/n", 0.0, 2.3), one)
    now[0] = 899.0
    assert cache.get(("disguised/h/rec0/n", 0.0, 2.3)) is not None  # a replay within the limit
    cache.put(("disguised/h/rec1/n", 0.0, 2.3), one)
    now[0] = 901.0
    assert cache.get(("disguised/h/rec0/n", 0.0, 2.3)) is None
    assert len(cache) == 1  # rec0 went on that use, rec1 stays
    now[0] = 2000.0
    assert cache.get(("disguised/h/rec1/n", 0.0, 2.3)) is None and len(cache) == 0


def test_an_idle_process_drops_its_analyses_once_they_are_due(
    speech: list[NDArray[np.int16]],
) -> None:
    """Another process never hears of a deletion: what it keeps goes at its age even if that
    process serves nothing more (nobody calls the cache again)."""
    cache = _marking.AnalysisCache(max_age_s=0.3)
    _marking.embed(speech[0], 0x123456, KEY, ("disguised/h/rec/nonce", 0.0, 9.0), cache)
    assert len(cache) == 1
    deadline = time.monotonic() + 10
    while len(cache) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(cache) == 0
