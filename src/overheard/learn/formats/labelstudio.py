"""Label Studio JSON import: one task per clip with its transcript and intent as a finished annotation.

Matches a labelling config with ``<Audio name="audio">``, ``<TextArea name="transcription">`` and
``<Choices name="intent">`` (``docs/learning.md`` has it). ``data.audio`` is the URL Label Studio
serves a local file under, ``/data/local-files/?d=<path>``, with the path relative to the dataset
root: start Label Studio with ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<dataset root>`` and the clips play after import.
``data.file`` keeps the absolute path for scripts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import Row

TASKS = "labelstudio.json"
LOCAL_FILES_URL = "/data/local-files/?d="
"""Label Studio's URL for a file under its local-files document root."""


def task(index: int, row: Row, root: Path) -> dict[str, Any]:
    """The Label Studio task of one row of the dataset at ``root``."""
    result: list[dict[str, Any]] = [
        {
            "from_name": "transcription",
            "to_name": "audio",
            "type": "textarea",
            "value": {"text": [row.text]},
        }
    ]
    if row.intent:
        result.append(
            {
                "from_name": "intent",
                "to_name": "audio",
                "type": "choices",
                "value": {"choices": [row.intent]},
            }
        )
    return {
        "id": index,
        "data": {
            "audio": LOCAL_FILES_URL + quote(row.audio, safe="/"),
            "file": str((root / row.audio).resolve()),
            "utt_id": row.utt_id,
        },
        "annotations": [{"result": result}],
    }


def write(root: Path, rows: Sequence[Row]) -> list[Path]:
    """Write ``labelstudio.json``."""
    path = root / TASKS
    path.write_text(
        json.dumps([task(i + 1, r, root) for i, r in enumerate(rows)], indent=1), encoding="utf-8"
    )
    return [path]
