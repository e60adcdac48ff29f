"""PII redaction benchmark on the labelled request set: per-entity precision / recall / F1.

Run: ``python benchmarks/redaction.py [--misses] [--disguised] [--baseline-ref main]
[--hostile-sets] [--clean-commands]``

``--disguised`` scores a copy of the set with its PII typed to dodge the rules, one character for
one (spans stay): inside phone, card and account numbers every space, dash or dot between digits
becomes ``/``; inside every other entity the Latin letters with a Cyrillic look-alike take it.

``--disguised-letters`` types them to dodge the rules in other ways, one character for one: inside
phone, card and account numbers ``0`` becomes ``O``, ``1`` becomes ``l`` and a space, dash or dot
between digits ``x``; inside every other entity the letters with a look-alike in Armenian, Cherokee,
Lisu or the Latin extensions (one script per request, in turn) take it.

``--baseline-ref REF`` scores, in the same run, the ``overheard`` package as it is at the git
revision ``REF`` (``git archive`` into a temporary folder, run in a subprocess): the figures
before a change beside those after it.

``--hostile-sets`` scores the hand-written sets of requests typed to dodge the rules in other ways
(letters typed for digits, ``o7700 9OO123``; letters between digit groups, ``07700x900123``;
look-alike letters of Armenian, Cherokee, Lisu, Coptic, Latin extensions…), each with PII-free
requests shaped like them (``1920x1080``, ``o2 arena``, ``b12``): ``redaction_disguised_tune.jsonl``
was read while changing the rules, ``redaction_disguised_heldout.jsonl`` was written before them
and only to report.

``--clean-commands`` counts the PII-free commands of SLURP (devel) and HWU64 (all nine folds) in
``../shared/data/nlu`` (requests without a person, personal-info, artist or e-mail slot) that the
rules redact, and with ``--baseline-ref`` how many are redacted differently from the baseline
(rules only, as serving reads a text; every such text is listed).

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
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from io import BytesIO
from pathlib import Path

from overheard.protect._confusables import lookalikes
from overheard.protect._lexicon import lexicon
from overheard.protect.redact import ENTITIES, Span, find_pii

ROOT = Path(__file__).resolve().parents[1]
SET_PATH = ROOT / "tests" / "protect" / "redaction_set.jsonl"
HOSTILE_SETS = {
    "tune": ROOT / "tests" / "protect" / "redaction_disguised_tune.jsonl",
    "heldout": ROOT / "tests" / "protect" / "redaction_disguised_heldout.jsonl",
}
DATA_DIR = ROOT.parent / "shared" / "data"
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


LETTER_SCRIPTS = ("ARMENIAN", "CHEROKEE", "LISU", "LATIN")
"""Scripts whose look-alike letters ``--disguised-letters`` uses, one per request in turn."""
DIGITS_AS_LETTERS = str.maketrans("01", "Ol")


@cache
def script_lookalikes(script: str) -> dict[int, str]:
    """ASCII letter -> a letter of ``script`` that looks like it (from the shipped table; a
    capital for a capital, a small letter for a small one, where the script has one)."""
    table: dict[int, str] = {}
    for code, target in sorted(lookalikes().items()):
        source = chr(code)
        if not unicodedata.name(source, "").startswith(script + " ") or not target.isalpha():
            continue
        if (source.isupper() and target.islower()) or (source.islower() and target.isupper()):
            continue
        table.setdefault(ord(target), source)
    return table


def disguised_letters(example: Example, k: int) -> Example:
    """The example with its PII typed to dodge the rules in other ways (same length, same spans):
    inside phone, card and account numbers ``0`` becomes ``O``, ``1`` becomes ``l`` and a space,
    dash or dot between digits ``x``; inside every other entity the letters with a look-alike in
    the ``k``-th script of ``LETTER_SCRIPTS`` (in turn) take it."""
    table = script_lookalikes(LETTER_SCRIPTS[k % len(LETTER_SCRIPTS)])
    chars = list(example.text)
    for span in example.spans:
        for i in range(span.start, span.end):
            if span.entity not in NUMBER_ENTITIES:
                chars[i] = chars[i].translate(table)
            elif (
                chars[i] in " -."
                and chars[i - 1].isdigit()
                and example.text[i + 1 : i + 2].isdigit()
            ):
                chars[i] = "x"
            else:
                chars[i] = chars[i].translate(DIGITS_AS_LETTERS)
    return Example("".join(chars), example.spans, example.split)


def baseline_finder(ref: str, *, tagger: bool = False) -> Finder:
    """``find_pii`` of the ``overheard`` package at ``ref``, run in a subprocess on a batch of
    texts (``tagger``: with the learned name tagger)."""
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(ROOT),
            "archive",
            ref,
            "src/overheard",
        ],
        check=True,
        capture_output=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="redaction-baseline-"))
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    cache: dict[str, list[Span]] = {}
    timing = {"seconds": 0.0, "texts": 0}

    def prime(texts: list[str]) -> None:
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        code = (
            "import json,sys,time\nfrom overheard.protect.redact import find_pii\n"
            f"find_pii('call jenny', tagger={tagger})\ntexts = [json.loads(line) for line in sys.stdin]\n"
            f"start = time.process_time()\nfound = [find_pii(t, tagger={tagger}) for t in texts]\n"
            "print(time.process_time() - start)\n"
            "for spans in found:\n"
            "    print(json.dumps([[s.start,s.end,s.entity] for s in spans]))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            input="".join(json.dumps(t) + "\n" for t in todo),
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(folder / "src")},
        ).stdout.splitlines()
        timing["seconds"] += float(out[0])
        timing["texts"] += len(todo)
        for text, line in zip(todo, out[1:], strict=True):
            cache[text] = [Span(s, e, ent) for s, e, ent in json.loads(line)]

    def find(text: str) -> list[Span]:
        if text not in cache:
            prime([text])
        return cache[text]

    find.prime = prime  # type: ignore[attr-defined]
    find.timing = timing  # type: ignore[attr-defined]
    return find


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
    parser.add_argument(
        "--disguised-letters",
        action="store_true",
        help="score a copy with letters for digits and look-alike letters of other scripts",
    )
    parser.add_argument("--baseline-ref", help="also score the package at this git revision")
    parser.add_argument(
        "--hostile-sets", action="store_true", help="also score the hand-written hostile sets"
    )
    parser.add_argument(
        "--clean-commands", action="store_true", help="only the PII-free SLURP and HWU64 commands"
    )
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    if args.clean_commands:
        clean_commands(args.data, args.baseline_ref, args.misses)
        return
    examples = load_set()
    if args.disguised:
        examples = [disguised(e) for e in examples]
    if args.disguised_letters:
        examples = [disguised_letters(e, k) for k, e in enumerate(examples)]
    ours = partial(find_pii, tagger=True)  # as served: the rules and the tagger's sealed names
    before = baseline_finder(args.baseline_ref, tagger=True) if args.baseline_ref else None
    hostile = {name: load_set(path) for name, path in HOSTILE_SETS.items()}
    if before is not None:
        texts = [e.text for e in examples]
        if args.hostile_sets:
            texts += [e.text for group in hostile.values() for e in group]
        before.prime(texts)  # type: ignore[attr-defined]
    print(f"{len(examples)} requests, {sum(not e.spans for e in examples)} without PII\n")
    print(format_table("baseline (all requests)", evaluate(examples, baseline_find)))
    started = time.perf_counter()
    report = evaluate(examples, ours)
    elapsed = time.perf_counter() - started
    print("\n" + format_table("find_pii (all requests)", report))
    if before is not None:
        title = f"find_pii at {args.baseline_ref} (all requests)"
        print("\n" + format_table(title, evaluate(examples, before)))
    for split in ("dev", "challenge"):
        subset = [e for e in examples if e.split == split]
        title = f"find_pii ({split} split, {len(subset)} requests)"
        print("\n" + format_table(title, evaluate(subset, ours)))
    if args.hostile_sets:
        for name, group in hostile.items():
            print("\n" + format_table(f"find_pii (hostile set, {name})", evaluate(group, ours)))
            if before is not None:
                title = f"find_pii at {args.baseline_ref} (hostile set, {name})"
                print("\n" + format_table(title, evaluate(group, before)))
    print(f"\nTime: {elapsed:.2f} s for {len(examples)} requests (lexicon loading included)")
    if not args.hostile_sets:
        print("\n" + ambiguous_name_sweep())
    if args.misses:
        reports = [report]
        if args.hostile_sets:
            reports.append(evaluate(hostile["tune"], ours))  # never the held-out set's
        for one in reports:
            for kind, rows in (("missed", one.misses), ("false positive", one.extras)):
                for entity, span_text, text in rows:
                    print(f"{kind:>14} {entity:<8} {span_text!r:<40} in {text!r}")


MIXED_WORD = re.compile(r"\b(?=\w*\d)(?=\w*[^\W\d_])\w+")
"""A word of digits and letters (``o2``, ``b12``, ``1920x1080``): what the lettered rules read."""


def clean_commands(data: Path, ref: str | None, listing: bool) -> None:
    """The PII-free SLURP and HWU64 commands the rules redact, and those redacted differently
    from the package at ``ref``."""
    from redaction_names import hwu64, slurp  # that module imports this one

    rows = [
        ex.text
        for rows in (slurp(data), hwu64(data))
        for ex, clean in rows
        if clean and not ex.spans
    ]
    texts = list(dict.fromkeys(rows))
    mine = {t: find_pii(t) for t in texts}
    print(
        f"PII-free commands: {len(rows)} ({len(texts)} distinct); redacted by the rules: "
        f"{sum(bool(mine[t]) for t in rows)} ({sum(map(bool, mine.values()))} distinct); "
        f"with a word of digits and letters: {sum(bool(MIXED_WORD.search(t)) for t in texts)} "
        "distinct"
    )
    if ref is None:
        return
    before = baseline_finder(ref)
    before.prime(texts)  # type: ignore[attr-defined]
    changed = [t for t in texts if mine[t] != before(t)]
    print(
        f"redacted at {ref}: {sum(bool(before(t)) for t in rows)}; "
        f"distinct texts redacted differently: {len(changed)}"
    )
    for text in changed if listing or len(changed) <= 50 else changed[:50]:
        print(f"  {text!r}: {before(text)} -> {mine[text]}")


if __name__ == "__main__":
    main(sys.argv[1:])
