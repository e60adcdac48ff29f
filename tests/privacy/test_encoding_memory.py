"""The recogniser keeps the last clip's encoder output (derived from its speech) for another
recogniser of the same clip: a deletion drops it at once, not ``ENCODING_KEEP_S`` later."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from overheard.speech import _whisper, pipeline
from tests.privacy._world import add_clip, later


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> _whisper.LoadedModel:
    """A loaded model (no weights needed) holding the encoding of a clip it just heard."""
    loaded = _whisper.LoadedModel(model=None, suppress_tokens=[], lock=threading.Lock())
    loaded.last_encoding = (b"digest", object(), 100, time.monotonic())
    monkeypatch.setitem(_whisper._models, (Path("/nowhere"), "int8"), loaded)
    return loaded


@pytest.mark.parametrize("scope", ["one", "everything"])
def test_a_deletion_drops_the_kept_encoding(platform, make_household, kept, scope: str) -> None:  # type: ignore[no-untyped-def]
    from overheard.customer.service import delete_all
    from overheard.recordings.deletion import delete_recordings

    pipeline.register()
    clip = add_clip(platform, make_household)
    if scope == "one":
        delete_recordings(
            platform,
            clip.household_id,
            [clip.recording_id],
            actor="customer",
            scope={"kind": "one"},
        )
    else:
        delete_all(platform, clip.household_id, "customer", later(30))
    assert kept.last_encoding is None
