"""Dataset layouts written from one list of rows: Hugging Face audiofolder, NeMo, Kaldi, Label Studio.

Every writer takes the dataset root (audio already written under ``audio/``) and the rows, and
writes only its own files, so one export can carry every layout over the same audio.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import BadRequest


@dataclass(frozen=True)
class Row:
    """One clip as the layouts see it."""

    utt_id: str
    """``<speaker>-<recording id>``: speaker first, so Kaldi's sort order holds."""
    audio: str
    """Path of the WAV relative to the dataset root."""
    duration_s: float
    """Seconds of audio."""
    text: str
    intent: str | None
    speaker: str
    """A per-export alias of the household (``spk001``…), never its pseudonym."""
    recording_id: str
    annotation_id: str
    words: tuple[dict[str, Any], ...] = ()
    """Word alignments: ``word``, ``start``/``end`` (seconds), ``confidence``; may be partial."""


Writer = Callable[[Path, Sequence[Row]], list[Path]]


def writers() -> dict[str, Writer]:
    """Layout name -> writer."""
    from . import hf, kaldi, labelstudio, nemo

    return {
        "hf": hf.write,
        "nemo": nemo.write,
        "kaldi": kaldi.write,
        "labelstudio": labelstudio.write,
    }


def write_formats(root: Path, rows: Sequence[Row], names: Sequence[str]) -> list[Path]:
    """Write each named layout; returns the files written."""
    table = writers()
    unknown = [n for n in names if n not in table]
    if unknown:
        raise BadRequest(
            f"unknown dataset format(s) {unknown}; use {sorted(table)}", code="unknown_format"
        )
    return [path for name in names for path in table[name](root, rows)]
