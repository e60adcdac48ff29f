"""A Kaldi data directory: ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``, ``utt2dur``.

Lines are sorted by utterance id (speaker-prefixed), as ``utils/validate_data_dir.sh`` demands;
``wav.scp`` holds absolute paths.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from . import Row

FOLDER = "kaldi"


def write(root: Path, rows: Sequence[Row]) -> list[Path]:
    """Write the data directory under ``root/kaldi``."""
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    ordered = sorted(rows, key=lambda r: r.utt_id)
    speakers: dict[str, list[str]] = defaultdict(list)
    for row in ordered:
        speakers[row.speaker].append(row.utt_id)
    files = {
        "wav.scp": [f"{r.utt_id} {(root / r.audio).resolve()}" for r in ordered],
        "text": [f"{r.utt_id} {' '.join(r.text.split())}" for r in ordered],
        "utt2spk": [f"{r.utt_id} {r.speaker}" for r in ordered],
        "spk2utt": [f"{spk} {' '.join(utts)}" for spk, utts in sorted(speakers.items())],
        "utt2dur": [f"{r.utt_id} {r.duration_s:.3f}" for r in ordered],
    }
    written = []
    for name, lines in files.items():
        path = folder / name
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        written.append(path)
    return written
