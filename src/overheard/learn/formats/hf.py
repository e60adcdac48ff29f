"""Hugging Face ``datasets`` audiofolder: ``metadata.jsonl`` beside the audio.

Load with ``datasets.load_dataset("audiofolder", data_dir=root)`` (``datasets`` decodes audio through
torchcodec), or without torch: ``load_dataset("json", data_files=str(root / "metadata.jsonl"))`` then
``cast_column("audio", Audio(sampling_rate=16000))`` (paths relative to ``root``). Columns: ``audio``,
``text``, ``intent``, ``utt_id``, ``speaker``, ``words`` (word alignments: ``word``, ``start``,
``end``, ``confidence``, for the label words the recogniser timed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from . import Row

METADATA = "metadata.jsonl"


def write(root: Path, rows: Sequence[Row]) -> list[Path]:
    """Write ``metadata.jsonl`` (``file_name`` relative to ``root``)."""
    path = root / METADATA
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            record = {
                "file_name": row.audio,
                "audio": row.audio,
                "text": row.text,
                "intent": row.intent or "",
                "utt_id": row.utt_id,
                "speaker": row.speaker,
                "words": list(row.words),
            }
            out.write(json.dumps(record) + "\n")
    return [path]
