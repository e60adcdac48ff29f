"""Word alignments for exported rows: the recogniser's word times kept where the label agrees.

The reviewed transcript is the label; the recogniser's hypothesis carries word times. Words of the
label that match the hypothesis in order (a longest-matching-blocks alignment) take the
hypothesis word's times and confidence; words the reviewer changed get none, so an alignment is
never invented.
"""

from __future__ import annotations

import json
from difflib import SequenceMatcher
from typing import Any

AlignedWord = dict[str, Any]


def aligned_words(transcript: str, hypothesis_json: str | None) -> tuple[AlignedWord, ...]:
    """``{"word", "start", "end", "confidence"}`` for each label word the hypothesis timed."""
    hyp = _hypothesis_words(hypothesis_json)
    label = transcript.lower().split()
    if not hyp or not label:
        return ()
    matcher = SequenceMatcher(a=label, b=[str(w["text"]).lower() for w in hyp], autojunk=False)
    out: list[AlignedWord] = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            word = hyp[block.b + k]
            out.append(
                {
                    "word": label[block.a + k],
                    "start": round(float(word["start_s"]), 3),
                    "end": round(float(word["end_s"]), 3),
                    "confidence": round(float(word["confidence"]), 4),
                }
            )
    return tuple(out)


def _hypothesis_words(raw: str | None) -> list[dict[str, Any]]:
    try:
        body = json.loads(raw or "")
    except json.JSONDecodeError:
        return []
    words = body.get("words") if isinstance(body, dict) else None
    return [w for w in words if isinstance(w, dict)] if isinstance(words, list) else []
