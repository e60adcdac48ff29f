"""Hugging Face ``datasets`` audiofolder: ``metadata.jsonl`` beside the audio.

``file_name`` (relative to ``root``) is what audiofolder turns into the ``audio`` column, an Audio
feature; no other key may be called ``audio`` or it would shadow that column with a string. Columns:
``audio``, ``text``, ``intent``, ``utt_id``, ``speaker``, ``words`` (word alignments: ``word``,
``start``, ``end``, ``confidence``, for the label words the recogniser timed).

* ``load_dataset("audiofolder", data_dir=root)`` needs ``datasets[audio]`` (torchcodec, so torch):
  ``datasets`` encodes and decodes audio only through torchcodec.
* Without torch: ``load_dataset("json", data_files=str(root / "metadata.jsonl"), split="train")``,
  ``rename_column("file_name", "audio")``, ``cast_column("audio", Audio(decode=False))``; each
  ``audio`` is then ``{"path", "bytes"}`` and ``soundfile.read(root / path)`` gives the samples.
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
                "text": row.text,
                "intent": row.intent or "",
                "utt_id": row.utt_id,
                "speaker": row.speaker,
                "words": list(row.words),
            }
            out.write(json.dumps(record) + "\n")
    return [path]
