"""What staff are shown of a transcript: its words through the reviewer's word timeline."""

from __future__ import annotations

import json

from overheard.protect.timeline import staff_words

WORD_STEP_S = 0.5
"""Seconds between the starts of two words of the made-up timeline."""


def timeline_shown(text: str) -> str:
    """``text`` cut at spaces into timed words as a recogniser stores them, and the words staff are
    shown of it joined again by spaces."""
    words = [
        {"text": w, "start_s": i * WORD_STEP_S, "end_s": i * WORD_STEP_S + 0.4, "confidence": 0.9}
        for i, w in enumerate(text.split(" "))
    ]
    raw = json.dumps({"text": text, "words": words})
    return " ".join(w.text for w in staff_words(raw))
