"""PII redaction benchmark on the labelled request set: per-entity precision / recall / F1.

Run: ``python benchmarks/redaction.py [--misses] [--disguised]``

``--disguised`` scores a copy of the set with its PII typed to dodge the rules, one character for
one (spans stay): inside phone, card and account numbers every space, dash or dot between digits
becomes ``/``; inside every other entity the Latin letters with a Cyrillic look-alike take it.

Matching rule: a predicted span matches a gold span when the entities are equal and their overlap
covers at least half of the longer of the two spans; each gold span matches at most one prediction.
Over-redaction rate: share of PII-free requests in which anything was redacted.
Baseline, measured in the same run: the written-form patterns alone (regular expressions for
e-mail, digit groups, UK postcodes; no spoken forms, no lexicon), the usual first attempt.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from overheard.protect._lexicon import lexicon
from overheard.protect.redact import ENTITIES, Span, find_pii

SET_PATH = Path(__file__).resolve().parents[1] / "tests" / "protect" / "redaction_set.jsonl"
MIN_OVERLAP = 0.5
"""Overlap needed, as a share of the longer span."""

Finder = Callable[[str], list[Span]]


@dataclass(frozen=True)
class Example:
    """One labelled request."""

    text: str
    spans: list[Span]
    split: str
    """``dev`` (written alongside the recognizers) or ``challenge`` (written after, to break them)."""


@dataclass
class Tally:
    """Counts for one entity."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def precision(self) -> float:
        """Share of predictions that were right."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    def recall(self) -> float:
        """Share of gold spans found."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision(), self.recall()
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    """Per-entity tallies, over-redaction and the misses."""

    tallies: dict[str, Tally]
    clean_total: int
    clean_redacted: int
    misses: list[tuple[str, str, str]]
    """(entity, missed text, request) for every gold span not found."""
    extras: list[tuple[str, str, str]]
    """(entity, predicted text, request) for every prediction that matched nothing."""

    def over_redaction(self) -> float:
        """Share of PII-free requests with any redaction."""
        return self.clean_redacted / self.clean_total if self.clean_total else 0.0


def load_set(path: Path = SET_PATH) -> list[Example]:
    """The labelled requests."""
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        spans = [Span(s, e, ent) for s, e, ent in row["spans"]]
        examples.append(Example(row["text"], spans, row.get("split", "dev")))
    return examples


def matches(gold: Span, pred: Span) -> bool:
    """Same entity and overlap >= MIN_OVERLAP of the longer span."""
    overlap = min(gold.end, pred.end) - max(gold.start, pred.start)
    longer = max(gold.end - gold.start, pred.end - pred.start)
    return gold.entity == pred.entity and overlap >= MIN_OVERLAP * longer


def evaluate(examples: list[Example], finder: Finder) -> Report:
    """Score a finder on the examples."""
    report = Report({e: Tally() for e in ENTITIES}, 0, 0, [], [])
    for example in examples:
        predicted = finder(example.text)
        _score_example(example, predicted, report)
        if not example.spans:
            report.clean_total += 1
            report.clean_redacted += bool(predicted)
    return report


def _score_example(example: Example, predicted: list[Span], report: Report) -> None:
    """Add one example's matches, misses and extras to the report."""
    unused = list(predicted)
    for gold in example.spans:
        hit = next((p for p in unused if matches(gold, p)), None)
        if hit is None:
            report.tallies[gold.entity].fn += 1
            report.misses.append((gold.entity, example.text[gold.start : gold.end], example.text))
        else:
            report.tallies[gold.entity].tp += 1
            unused.remove(hit)
    for pred in unused:
        report.tallies.setdefault(pred.entity, Tally()).fp += 1
        report.extras.append((pred.entity, example.text[pred.start : pred.end], example.text))


BASELINE_PATTERNS = (
    ("EMAIL", re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")),
    ("IBAN", re.compile(r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?\b")),
    ("POSTCODE", re.compile(r"\b[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}\b")),
    ("CARD", re.compile(r"\b\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,4}\b")),
    ("PHONE", re.compile(r"(?<![\w+])\+?\(?\d{2,5}\)?(?:[ .-]?\d{2,4}){2,4}\b")),
)


def baseline_find(text: str) -> list[Span]:
    """Written-form regular expressions only: what a first attempt catches."""
    spans: list[Span] = []
    for entity, pattern in BASELINE_PATTERNS:
        for m in pattern.finditer(text):
            if not any(s.start < m.end() and m.start() < s.end for s in spans):
                spans.append(Span(m.start(), m.end(), entity))
    return spans


def format_table(name: str, report: Report) -> str:
    """A Markdown table of the report."""
    support = Counter({e: t.tp + t.fn for e, t in report.tallies.items()})
    lines = [
        f"### {name}",
        "",
        "| entity | gold spans | precision | recall | F1 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for entity in ENTITIES:
        t = report.tallies[entity]
        lines.append(
            f"| {entity} | {support[entity]} | {t.precision():.3f} | {t.recall():.3f} | {t.f1():.3f} |"
        )
    total = Tally(
        *(sum(getattr(t, f) for t in report.tallies.values()) for f in ("tp", "fp", "fn"))
    )
    lines.append(
        f"| all | {sum(support.values())} | {total.precision():.3f} | {total.recall():.3f} "
        f"| {total.f1():.3f} |"
    )
    lines.append("")
    lines.append(
        f"Over-redaction on PII-free requests: {report.clean_redacted}/{report.clean_total} "
        f"= {report.over_redaction():.3f}"
    )
    return "\n".join(lines)


LOOKALIKES = str.maketrans("aeopcxiAEOPCXHKMTB", "аеорсхіАЕОРСХНКМТВ")
"""Latin letters and the Cyrillic letters Unicode's confusables table maps to them."""
NUMBER_ENTITIES = frozenset({"PHONE", "CARD", "ACCOUNT"})


def disguised(example: Example) -> Example:
    """The example with its PII typed to dodge the rules (same length, same spans)."""
    chars = list(example.text)
    for span in example.spans:
        for k in range(span.start, span.end):
            if span.entity not in NUMBER_ENTITIES:
                chars[k] = chars[k].translate(LOOKALIKES)
            elif (
                chars[k] in " -."
                and chars[k - 1].isdigit()
                and "".join(chars[k + 1 : k + 2]).isdigit()
            ):
                chars[k] = "/"
    return Example("".join(chars), example.spans, example.split)


NEUTRAL_TEMPLATES = ("{w} is on my list", "what does {w} mean", "add {w} to the list", "play {w}")
CONTACT_TEMPLATES = ("call {w} now", "text {w} i'm running late", "remind {w} about dinner")


def ambiguous_name_sweep() -> str:
    """How often census first names that are also dictionary words get redacted, by context."""
    lex = lexicon()
    names = sorted(n for n in lex.census_first_names if lex.is_common(n))
    lines = [
        f"### census first names that are also common words ({len(names)}, e.g. will, may, mark)",
        "",
        "| template | share redacted as NAME |",
        "| --- | ---: |",
    ]
    for template in NEUTRAL_TEMPLATES + CONTACT_TEMPLATES:
        hits = sum(
            any(s.entity == "NAME" for s in find_pii(template.format(w=n), tagger=True))
            for n in names
        )
        lines.append(f"| `{template}` | {hits / len(names):.3f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    """Print both tables, the timing, and optionally every miss and false positive."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list misses and false positives")
    parser.add_argument(
        "--disguised",
        action="store_true",
        help="score a copy with its PII typed to dodge the rules",
    )
    args = parser.parse_args(argv)
    examples = load_set()
    if args.disguised:
        examples = [disguised(e) for e in examples]
    ours = partial(find_pii, tagger=True)  # as served: the rules and the tagger's sealed names
    print(f"{len(examples)} requests, {sum(not e.spans for e in examples)} without PII\n")
    print(format_table("baseline (all requests)", evaluate(examples, baseline_find)))
    started = time.perf_counter()
    report = evaluate(examples, ours)
    elapsed = time.perf_counter() - started
    print("\n" + format_table("find_pii (all requests)", report))
    for split in ("dev", "challenge"):
        subset = [e for e in examples if e.split == split]
        title = f"find_pii ({split} split, {len(subset)} requests)"
        print("\n" + format_table(title, evaluate(subset, ours)))
    print(f"\nTime: {elapsed:.2f} s for {len(examples)} requests (lexicon loading included)")
    print("\n" + ambiguous_name_sweep())
    if args.misses:
        for kind, rows in (("missed", report.misses), ("false positive", report.extras)):
            for entity, span_text, text in rows:
                print(f"{kind:>14} {entity:<8} {span_text!r:<40} in {text!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
