"""The project's own seed requests: example utterances with their intent and slots.

``seed_requests.tsv`` trains the domain language model and the default intent model;
``seed_requests_heldout.tsv`` holds different phrasings (and unseen slot values) kept for evaluation.
Each line is ``text<TAB>intent<TAB>slots-json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Split = Literal["train", "heldout"]
_FILES: dict[str, str] = {"train": "seed_requests.tsv", "heldout": "seed_requests_heldout.tsv"}


@dataclass(frozen=True)
class SeedRequest:
    """One example request."""

    text: str
    intent: str
    slots: dict[str, str]


@cache
def seed_requests(split: Split = "train") -> tuple[SeedRequest, ...]:
    """The seed requests of one split, in file order."""
    text = resources.files("overheard").joinpath("data", _FILES[split]).read_text(encoding="utf-8")
    return tuple(parse_line(line) for line in text.splitlines() if line.strip())


def parse_line(line: str) -> SeedRequest:
    """One ``text<TAB>intent<TAB>slots-json`` line."""
    text, intent, slots = line.split("\t")
    return SeedRequest(text=text, intent=intent, slots=json.loads(slots))


@cache
def seed_intents() -> tuple[str, ...]:
    """Every intent of the training split, sorted (read once: every task shown lists them)."""
    return tuple(sorted({r.intent for r in seed_requests("train")}))
