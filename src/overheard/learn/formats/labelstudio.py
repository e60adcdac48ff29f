"""Label Studio JSON import: one task per clip with its transcript and intent as a finished annotation.

Matches a labelling config with ``<Audio name="audio">``, ``<TextArea name="transcription">`` and
``<Choices name="intent">`` (``docs/learning.md`` has it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import Row

TASKS = "labelstudio.json"


def task(index: int, row: Row) -> dict[str, Any]:
    """The Label Studio task of one row."""
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
        "data": {"audio": row.audio, "utt_id": row.utt_id},
        "annotations": [{"result": result}],
    }


def write(root: Path, rows: Sequence[Row]) -> list[Path]:
    """Write ``labelstudio.json``."""
    path = root / TASKS
    path.write_text(
        json.dumps([task(i + 1, r) for i, r in enumerate(rows)], indent=1), encoding="utf-8"
    )
    return [path]
