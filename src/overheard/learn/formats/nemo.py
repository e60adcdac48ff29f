"""NeMo ASR manifest: one JSON object per line with ``audio_filepath``, ``duration`` and ``text``.

Paths are relative to the manifest's folder, which NeMo resolves against the manifest file. The
intent rides along as an extra field (NeMo keeps unknown keys).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from . import Row

MANIFEST = "nemo_manifest.jsonl"


def write(root: Path, rows: Sequence[Row]) -> list[Path]:
    """Write ``nemo_manifest.jsonl``."""
    path = root / MANIFEST
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            record = {
                "audio_filepath": row.audio,
                "duration": round(row.duration_s, 3),
                "text": row.text,
                "intent": row.intent or "",
                "words": list(row.words),
            }
            out.write(json.dumps(record) + "\n")
    return [path]
