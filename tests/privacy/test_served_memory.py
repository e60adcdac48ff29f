"""What a serve leaves in the process's memory goes when the clip is removed from review."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from overheard.protect import serving, watermark
from overheard.recordings.deletion import delete_recordings
from tests.privacy._world import add_clip, claim, later, sample

STRETCH = 24
"""Samples in a row that must match for a stretch of the served clip to count as found."""


def served_pcm(wav: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(wav)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def stretches_kept(pcm: np.ndarray, count: int = 8) -> int:
    """How many of ``count`` loud stretches of ``pcm`` the marking's working memory holds, as the
    float samples (int16 units) the marking passes write."""
    loud = np.flatnonzero(
        np.convolve(np.abs(pcm.astype(np.int32)) > 1000, np.ones(STRETCH), "valid") == STRETCH
    )
    assert loud.size >= count, "too little loud audio to look for"
    starts = loud[np.linspace(0, loud.size - 1, count).astype(int)]
    found = 0
    for start in starts:
        want = pcm[start : start + STRETCH].astype(np.float64)
        for block in [m for m, _ in watermark.SCRATCH._free]:
            values = block[: len(block) // 8 * 8].view(np.float64)
            hits = np.flatnonzero(np.abs(values[: len(values) - STRETCH] - want[0]) <= 1.0)
            if any(np.all(np.abs(values[h : h + STRETCH] - want) <= 1.0) for h in hits):
                found += 1
                break
    return found


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # uninitialised memory holds NaNs
def test_a_deleted_clip_leaves_no_served_audio_in_the_marking_memory(platform, make_household):  # type: ignore[no-untyped-def]
    """The marking passes write the served clip (disguised, marked) into working memory they
    keep for the next serve. Before, a deletion dropped the clip's analyses but that memory kept
    the last serves' audio with no time limit, in a process that might serve nothing more."""
    serving.install(platform)
    platform.settings = platform.settings.model_copy(update={"disguise_method": "world"})  # quick
    clip = add_clip(platform, make_household, seconds=2.0)
    sample(platform, clip)
    lease = claim(platform, "R-a1")
    served = serving.clip_for_lease(platform, lease_id=lease.lease_id, staff="R-a1", now=later(1))
    pcm = served_pcm(served.wav)
    assert stretches_kept(pcm) > 0  # the check finds what a serve leaves
    delete_recordings(
        platform, clip.household_id, [clip.recording_id], actor="customer", scope={"kind": "one"}
    )
    assert stretches_kept(pcm) == 0
