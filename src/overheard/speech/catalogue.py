"""The intent catalogue: the seed intents plus those a lead adds, each with example requests.

The lead's additions live in one plain file, ``intent_catalogue_path`` (default
``<data_dir>/intent-catalogue.tsv``, lines ``text<TAB>intent``), written by
``overheard intents add``. Reviewers pick from the catalogue; ``train nlu`` learns its examples.
Labelled files from elsewhere (CSV with ``text``/``intent`` columns, JSONL with ``text`` or
``sentence`` and ``intent``, or TSV lines) are read by :func:`read_labelled`.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

from overheard.config import Settings
from overheard.errors import BadRequest

from .seed import seed_intents

INTENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
"""An intent is a lower-case label such as ``call_contact``."""
MAX_TEXT_CHARS = 500
Labelled = list[tuple[str, str]]


def catalogue_file(settings: Settings) -> Path:
    """Where the lead's catalogue lives for these settings."""
    given = settings.intent_catalogue_path
    return Path(given) if given else Path(settings.data_dir) / "intent-catalogue.tsv"


def check_example(text: str, intent: str) -> tuple[str, str]:
    """A cleaned ``(text, intent)`` pair, or BadRequest saying what is wrong."""
    label = intent.strip().lower()
    if not INTENT_RE.match(label):
        raise BadRequest(f"{intent!r} is not an intent label (a-z, 0-9, _)", code="bad_intent")
    clean = " ".join(text.split())
    if not clean or len(clean) > MAX_TEXT_CHARS or "\t" in text:
        raise BadRequest(f"unusable example text {text[:60]!r}", code="bad_example")
    return clean, label


def read_labelled(path: Path) -> Labelled:
    """``(text, intent)`` pairs of a labelled file (.csv, .jsonl or .tsv); BadRequest if unusable."""
    if not path.is_file():
        raise BadRequest(f"no labelled file at {path}", code="no_file")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = _jsonl(path)
    elif suffix == ".csv":
        rows = _csv(path)
    elif suffix == ".tsv":
        rows = _tsv(path)
    else:
        raise BadRequest("labelled files are .csv, .jsonl or .tsv", code="bad_format")
    return [check_example(text, intent) for text, intent in rows]


def _jsonl(path: Path) -> Labelled:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append((str(row.get("text", row.get("sentence", ""))), str(row["intent"])))
        except (ValueError, KeyError, AttributeError):
            raise BadRequest(f"line {number} needs text and intent", code="bad_row") from None
    return rows


def _csv(path: Path) -> Labelled:
    with path.open(newline="", encoding="utf-8") as f:
        sample = f.read(4096)
        f.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        reader = csv.DictReader(f, dialect=dialect)
        if not {"text", "intent"} <= set(reader.fieldnames or ()):
            raise BadRequest("a labelled CSV needs text and intent columns", code="bad_columns")
        return [(r["text"] or "", r["intent"] or "") for r in reader]


def _tsv(path: Path) -> Labelled:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")[:2]) for line in lines if line.strip()]  # type: ignore[misc]


def lead_examples(settings: Settings) -> Labelled:
    """The examples the lead added (none when the file does not exist yet)."""
    path = catalogue_file(settings)
    return read_labelled(path) if path.is_file() else []


def intents(settings: Settings) -> tuple[str, ...]:
    """Every intent of the catalogue: the seed intents, then the lead's, sorted, no repeats."""
    added = sorted({intent for _, intent in lead_examples(settings)} - set(seed_intents()))
    return (*seed_intents(), *added)


def add_intent(settings: Settings, intent: str, examples: list[str]) -> int:
    """Append examples of ``intent`` (new or known) to the catalogue; the number written."""
    pairs = [check_example(text, intent) for text in examples]
    if not pairs:
        raise BadRequest("give at least one example request", code="no_examples")
    path = catalogue_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.writelines(f"{text}\t{label}\n" for text, label in pairs)
    return len(pairs)
