"""Names and addresses on requests the redactor was not tuned on, beside the redactor of ``main``.

Run: ``python benchmarks/redaction_names.py [--data DIR] [--baseline-ref main] [--misses]``

Sets, each split in two before any tuning (``tune`` was looked at while changing the rules,
``heldout`` only to report):

- ``world``: ``tests/protect/redaction_world_set.jsonl``: 40 request phrasings x 112 given names from
  about 40 countries and 30 addresses, written by hand (not drawn from any lexicon); phrasings,
  names and addresses alternate between the splits, so a held-out request has a held-out phrasing
  and a held-out name or address.
- ``slurp`` (``nlu/slurp/devel.jsonl``) and ``hwu64`` (``nlu/hwu64/fold_1.csv`` … ``fold_9.csv``):
  real assistant requests; their ``[person : …]`` slots are the gold names (a slot of only relation
  or function words, ``my mom``, is not a name). SLURP is split by id parity (even: tune), HWU64 by
  fold (1–5: tune, 6–9: held out). Requests without a person, personal-info or artist slot are the
  clean commands: any redaction in one is a false redaction.
  Each is also reported with its gold names trimmed of the titles and relations that open them
  (``titles left visible``: ``principal lowry`` → ``lowry``), as the redactor leaves those visible.

- ``addresses``: street addresses (house number and street name) made by the PyPI package
  ``Faker`` (``lexicon`` extra), seed 0, in request phrasings; half as written, half lowercase with
  the number spoken. Split by Faker locale and by phrasing: ``en_US``/``en_GB`` addresses in the
  tuning phrasings; ``en_AU``, ``en_IE``, ``en_NZ``, ``en_IN``, ``en_PH`` addresses (other street
  types, other name stock) in the held-out phrasings. ``addresses-fresh``:
  ``en_CA``, ``en_BD``, ``en_MS`` addresses in the held-out phrasings, added in the third round
  because the second round's card had already listed the held-out misses.

Baseline, same run: the ``overheard.protect`` package as it is on ``--baseline-ref`` (``git archive``
into a temporary folder, run in a subprocess).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from functools import cache, partial
from pathlib import Path
from typing import Any

from redaction import Example, Report, baseline_finder, evaluate, load_set

from overheard.protect._lexicon import STOP_WORDS
from overheard.protect._name_words import RELATIONS, TITLES
from overheard.protect.redact import Span, find_pii

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"
WORLD_SET = ROOT / "tests" / "protect" / "redaction_world_set.jsonl"
SLOT = re.compile(r"\[(\w+) : ([^\]]*)\]")
NOT_CLEAN_SLOTS = frozenset({"person", "personal_info", "artist_name", "email_address"})
"""Requests with these slots are not clean commands (artists are people; addresses are PII)."""
OTHER_SLOTS: dict[str, list[tuple[int, int]]] = {}
"""Character spans of the slots that are not people (places, businesses…), by request text."""
GOALS = {"NAME": 0.90, "ADDRESS": 0.90}
HWU64_FOLDS = 9
HWU64_TUNE_FOLDS = 5
Finder = Callable[[str], list[Span]]


def from_annotation(annotation: str, split: str) -> tuple[Example, bool]:
    """A request and its gold names from a slot annotation; and whether it is a clean command."""
    text, spans, slots, other = "", [], set(), []
    cursor = 0
    for m in SLOT.finditer(annotation):
        text += annotation[cursor : m.start()]
        value = m.group(2).strip()
        slots.add(m.group(1))
        if m.group(1) == "person" and _is_name(value):
            spans.append(Span(len(text), len(text) + len(value), "NAME"))
        elif m.group(1) not in NOT_CLEAN_SLOTS:
            other.append((len(text), len(text) + len(value)))
        text += value
        cursor = m.end()
    text += annotation[cursor:]
    OTHER_SLOTS[text] = other
    return Example(text, spans, split), not (slots & NOT_CLEAN_SLOTS)


def _is_name(value: str) -> bool:
    words = re.findall(r"[\w']+", value.lower())
    return any(w not in RELATIONS and w not in STOP_WORDS for w in words)


LEADING_WORD = re.compile(r"([\w']+)\.? +")


def titles_left_visible(ex: Example) -> Example:
    """The request with each gold name trimmed of the titles and relations that open it
    (``principal lowry`` → ``lowry``, ``aunt ruth`` → ``ruth``): the data sets' slots hold them,
    the redactor leaves them visible by design (``principal [NAME]``), so a secondary figure
    asks only whether the name itself is hidden."""
    spans = []
    for span in ex.spans:
        start = span.start
        while (m := LEADING_WORD.match(ex.text, start, span.end)) and (
            m.group(1).lower() in TITLES or m.group(1).lower() in RELATIONS
        ):
            start = m.end()
        spans.append(Span(start, span.end, span.entity))
    return Example(ex.text, spans, ex.split)


def slurp(data: Path) -> Iterator[tuple[Example, bool]]:
    """SLURP devel requests."""
    for line in (data / "nlu" / "slurp" / "devel.jsonl").read_text().splitlines():
        row = json.loads(line)
        split = "tune" if row["slurp_id"] % 2 == 0 else "heldout"
        yield from_annotation(row["sentence_annotation"], split)


def hwu64(data: Path) -> Iterator[tuple[Example, bool]]:
    """HWU64 requests of all nine folds: folds 1–5 to tune on, 6–9 held out."""
    for fold in range(1, HWU64_FOLDS + 1):
        split = "tune" if fold <= HWU64_TUNE_FOLDS else "heldout"
        with (data / "nlu" / "hwu64" / f"fold_{fold}.csv").open(newline="") as f:
            for row in csv.DictReader(f, delimiter=";"):
                yield from_annotation(row["answer_annotation"], split)


ADDRESS_LOCALES = {
    "tune": ("en_US", "en_GB"),
    "heldout": ("en_AU", "en_IE", "en_NZ", "en_IN", "en_PH"),
    "fresh": ("en_CA", "en_BD", "en_MS"),
    "new": ("zu_ZA", "id_ID"),
    "world": ("pt_BR", "es_MX", "de_DE", "fr_FR", "it_IT", "vi_VN"),
    "world2": ("es_ES", "pt_PT", "nl_NL", "pl_PL", "sv_SE", "ro_RO"),
    "spoken-tune": ("cs_CZ", "da_DK", "fi_FI", "hr_HR", "es_CO", "de_AT", "fr_CA"),
    "spoken-heldout": (
        "sk_SK",
        "no_NO",
        "hu_HU",
        "sl_SI",
        "es_AR",
        "es_CL",
        "nl_BE",
        "fr_CH",
        "de_CH",
        "az_AZ",
    ),
}
"""``fresh``: English-language locales of countries no round of rules looked at, reported with the
held-out split (in its phrasings) from the third round on, whose misses the second round's card
had not already listed. Their misses were read after that run, so from the fourth round on they are
also run in the tuning phrasings with ``--split tune``, and ``new`` (South African and Indonesian
addresses, chosen by country before any was generated) is the untouched held-out group.
In the sixth round ``new`` is tuning data too (its misses were read after the fifth round), run
in the tuning phrasings with ``--split tune``; the held-out groups are ``world`` (Brazil, Mexico,
Germany, France, Italy, Vietnam: chosen as the Latin-script Faker address providers of countries
no round had looked at, before any of their addresses was generated) and ``new-other`` (South
Africa and Indonesia again, other addresses: seed 1), both written in each locale's own full
street-address format (``Jl. Peta No. 75``, ``Rua das Flores, 123``, ``Hauptstr. 5``), not as
house number + street name. Both were read after their first held-out run, so they are also run
in the tuning phrasings with ``--split tune``, and ``world2`` (Spain, Portugal, the Netherlands,
Poland, Sweden, Romania: chosen the same way before any was generated, after that run) is the
untouched held-out group for the rules changed after it.

Seventh round: ``world2`` was read as a figure (its misses are listed in the card), so it is
reported as a secondary, "looked at" group, and a new split by country was frozen before any of
its addresses was generated: ``spoken-tune`` (Czechia, Denmark, Finland, Croatia, Colombia,
Austria, Canada in French) to change the rules on, and ``spoken-heldout`` (Slovakia, Norway,
Hungary, Slovenia, Argentina, Chile, Belgium, Switzerland in French and German, Azerbaijan:
the remaining Latin-script Faker address providers) never looked at, in phrasings of their own
(``ADDRESS_TEMPLATES["fresh"]``). Both in each locale's full street-address format, half as
written and half as a recogniser writes them (``asr_form``)."""
LOCALE_OF: dict[int, str] = {}
"""The Faker locale of every generated address request (by the example's ``id``), for the
per-country table (two locales may give the same request: ``en_CA`` reuses ``en_US`` streets)."""
ADDRESS_TEMPLATES = {
    "tune": (
        "my address is {a}",
        "deliver it to {a}",
        "navigate to {a}",
        "send a taxi to {a}",
        "i live at {a}",
        "my mum lives at {a}",
    ),
    "heldout": (
        "please send the parcel to {a}",
        "how long will it take to drive to {a}",
        "change my home address to {a}",
        "pick me up from {a} at six",
        "the party is at {a} tonight",
        "book a cleaner for {a}",
    ),
    "fresh": (
        "get directions to {a}",
        "the delivery address is {a}",
        "order a taxi from {a} to the airport",
        "how far is {a} from here",
        "remind me to drop the keys at {a}",
        "add {a} as my work address",
    ),
}
"""``fresh``: phrasings written for the seventh round's held-out countries, never used to tune."""
ADDRESSES_PER_LOCALE = 40
SMALL = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spoken(n: int) -> str:
    """A house number as people say it: ``743`` → ``seven hundred and forty three``, ``1586`` →
    ``fifteen eighty six``, ``1905`` → ``nineteen oh five``."""
    if n < 20:
        return SMALL[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + SMALL[n % 10])
    if n < 1000:
        rest = n % 100
        return SMALL[n // 100] + " hundred" + ("" if rest == 0 else " and " + spoken(rest))
    high, low = divmod(n, 100)
    if low == 0:
        return spoken(high) + " hundred"
    return spoken(high) + " " + ("oh " + SMALL[low] if low < 10 else spoken(low))


def addresses(
    split: str,
    locales: str | None = None,
    *,
    seed: int = 0,
    full: bool = False,
    asr: bool = False,
    templates_of: str | None = None,
) -> list[Example]:
    """Faker street addresses in request phrasings (see the module docstring); ``locales`` picks
    another locale group of ``ADDRESS_LOCALES`` than the split's own. ``full``: the locale's own
    street-address format (``street_address()``), else house number + street name. ``asr``: every
    other one as a recogniser writes it (``asr_form``). ``templates_of``: another phrasing group
    of ``ADDRESS_TEMPLATES`` than the split's own."""
    try:
        from faker import Faker
    except ImportError as exc:  # pragma: no cover - the benchmark's own extra
        raise SystemExit("the address set needs Faker: pip install '.[lexicon]'") from exc
    examples = []
    templates = ADDRESS_TEMPLATES[templates_of or split]
    for locale in ADDRESS_LOCALES[locales or split]:
        fake = Faker(locale)
        fake.seed_instance(seed)
        for k in range(ADDRESSES_PER_LOCALE):
            if asr:
                written = " ".join(fake.street_address().split())
                address = asr_form(written, fold=k % 4 == 3) if k % 2 else written
            else:
                address = _full_address(fake, k) if full else _number_street(fake, k)
            template = templates[k % len(templates)]
            start = template.index("{a}")
            text = template.format(a=address)
            example = Example(text, [Span(start, start + len(address), "ADDRESS")], split)
            LOCALE_OF[id(example)] = locale
            FORM_OF[id(example)] = "spoken" if asr and k % 2 else "written"
            examples.append(example)
    return examples


def _number_street(fake: Any, k: int) -> str:
    """House number and street name; every other one lowercase with the number spoken."""
    number, street = fake.building_number(), fake.street_name()
    if k % 2 and number.isdigit() and int(number) < 10_000:
        return f"{spoken(int(number))} {street}".lower()
    return f"{number} {street}"


HOUSE_DIGITS = re.compile(r"\b\d{1,4}\b")
FORM_OF: dict[int, str] = {}
"""``written`` or ``spoken`` (``asr_form``) for every generated address (by the example's ``id``)."""


FOLDED = str.maketrans({"ß": "ss", "ø": "o", "æ": "ae", "đ": "d", "ł": "l", "ı": "i", "ð": "d"})
ASR_PUNCTUATION = re.compile(r"[^\w\s']+")
DIGIT_RUN = re.compile(r"\d+")


def asr_form(address: str, *, fold: bool = False) -> str:
    """An address as a recogniser writes it: lower case, no punctuation (``/`` and ``-`` become
    spaces; Turkish ``İ`` becomes ``i``, not ``i`` and a loose dot), every number of up to four
    digits spoken (``12/3b`` → ``twelve three b``); ``fold``:
    letters without accents too, as an English-only recogniser spells foreign words."""
    lowered = unicodedata.normalize("NFC", address.lower().replace("i\u0307", "i"))
    text = ASR_PUNCTUATION.sub(" ", lowered)
    text = DIGIT_RUN.sub(
        lambda m: f" {spoken(int(m.group()))} " if len(m.group()) <= 4 else f" {m.group()} ", text
    )
    if fold:
        text = unicodedata.normalize("NFKD", text.translate(FOLDED))
        text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.split())


def _full_address(fake: Any, k: int) -> str:
    """The locale's street address on one line; every other one lowercase with its house number
    spoken (when it has a single number of at most four digits)."""
    address = " ".join(fake.street_address().split())
    if not k % 2:
        return address
    numbers = HOUSE_DIGITS.findall(address)
    if len(numbers) == 1:
        address = HOUSE_DIGITS.sub(spoken(int(numbers[0])), address)
    return address.lower()


def name_left_beside_email(examples: list[Example], finder: Finder) -> tuple[int, int]:
    """(requests whose gold name stands right before an e-mail and is left, such requests)."""
    cases = left = 0
    for ex in examples:
        emails = [s for s in ex.spans if s.entity == "EMAIL"]
        names = [s for s in ex.spans if s.entity == "NAME"]
        for name in names:
            if any(0 < e.start - name.end <= 2 for e in emails):
                cases += 1
                found = finder(ex.text)
                left += not any(p.start <= name.start and name.end <= p.end for p in found)
    return left, cases


def line(label: str, entity: str, ours: Report, base: Report) -> str:
    """One table row: recall and precision, ours beside the baseline."""
    a, b = ours.tallies[entity], base.tallies[entity]
    goal = GOALS.get(entity)
    goal_text = f"≥ {goal:.2f}" if goal else "—"
    n = a.tp + a.fn
    return (
        f"| {label} | {entity} | {n} | {a.recall():.3f} | {a.precision():.3f} "
        f"| {b.recall():.3f} | {b.precision():.3f} | {goal_text} |"
    )


def clean_row(label: str, clean: list[Example], ours: Finder, base: Finder) -> str:
    """False redactions on clean commands, ours beside the baseline; and those inside a slot."""
    mine = sum(bool(ours(e.text)) for e in clean)
    theirs = sum(bool(base(e.text)) for e in clean)
    mine_slot = sum(_in_other_slot(e.text, ours) for e in clean)
    theirs_slot = sum(_in_other_slot(e.text, base) for e in clean)
    return f"| {label} | {len(clean)} | {mine} | {theirs} | {mine_slot} | {theirs_slot} |"


def address_change_line(label: str, texts: list[str], ours: Finder, base: Finder) -> str:
    """How many requests (clean or not) have an address or postcode span, ours beside the
    baseline, and in how many the two differ."""

    def places(finder: Finder, text: str) -> set[tuple[int, int, str]]:
        return {(s.start, s.end, s.entity) for s in finder(text) if s.entity in PLACE_ENTITIES}

    mine = sum(bool(places(ours, t)) for t in texts)
    theirs = sum(bool(places(base, t)) for t in texts)
    changed = sum(places(ours, t) != places(base, t) for t in texts)
    return (
        f"{label}: {len(texts)} requests, with an address or postcode {mine} "
        f"(baseline {theirs}), different from the baseline's {changed}"
    )


PLACE_ENTITIES = frozenset({"ADDRESS", "POSTCODE"})


def _in_other_slot(text: str, finder: Finder) -> bool:
    """True if a redaction overlaps a slot annotated as something other than a person."""
    slots = OTHER_SLOTS.get(text, [])
    return any(s.start < end and start < s.end for s in finder(text) for start, end in slots)


def timing_line(texts: list[str], base_timing: dict[str, float]) -> str:
    """CPU time per request of ``find_pii``: the rules as serving runs them (the tagger's names
    come stored with the hypothesis), ours beside the baseline's, and with the tagger as the
    pipeline runs it once per clip (lexicon and encoder already loaded)."""
    find_pii("call jenny", tagger=True)
    start = time.process_time()
    for text in texts:
        find_pii(text)
    served = (time.process_time() - start) / len(texts) * 1e6
    start = time.process_time()
    for text in texts:
        find_pii(text, tagger=True)
    tagged = (time.process_time() - start) / len(texts) * 1e6
    theirs = base_timing["seconds"] / max(base_timing["texts"], 1) * 1e6
    return (
        f"CPU time per request over {len(texts)} requests, rules (serving): {served:.0f} µs "
        f"(baseline {theirs:.0f} µs, ratio {served / theirs:.2f}); "
        f"with the tagger (pipeline, once per clip): {tagged / 1000:.2f} ms"
    )


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--baseline-ref", default="main")
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--split", default="heldout", choices=("heldout", "tune"))
    parser.add_argument(
        "--addresses-only",
        action="store_true",
        help="only the address groups and the clean commands, rules without the name tagger",
    )
    args = parser.parse_args()
    # as hypotheses are redacted when served: the rules plus the names the pipeline's tagger sealed
    ours: Finder = cache(partial(find_pii, tagger=not args.addresses_only))
    base = baseline_finder(args.baseline_ref)
    world = [] if args.addresses_only else [e for e in load_set(WORLD_SET) if e.split == args.split]
    real = {"slurp": list(slurp(args.data)), "hwu64": list(hwu64(args.data))}
    street = addresses(args.split)
    fresh = addresses(args.split, "fresh")
    new = addresses(args.split, "new")
    unseen = {
        "addresses-world": addresses(args.split, "world", full=True),
        "addresses-new-other": addresses(args.split, "new", seed=1, full=True),
    }
    if args.split == "heldout":
        unseen["addresses-world2"] = addresses(args.split, "world2", full=True)
        unseen["addresses-spoken"] = addresses(
            args.split, "spoken-heldout", asr=True, templates_of="fresh"
        )
    else:
        unseen["addresses-spoken"] = addresses(args.split, "spoken-tune", asr=True)
    generated = street + fresh + new + [e for group in unseen.values() for e in group]
    texts = list(
        dict.fromkeys(
            [e.text for e in world + generated] + [e.text for r in real.values() for e, _ in r]
        )
    )
    base.prime(texts)  # type: ignore[attr-defined]
    print(f"split: {args.split}; baseline: overheard.protect at {args.baseline_ref}")
    print(
        "| set | entity | gold | recall | precision | baseline recall | baseline precision | goal |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    reports = {"world": (evaluate(world, ours), evaluate(world, base))} if world else {}
    reports["addresses"] = (evaluate(street, ours), evaluate(street, base))
    reports["addresses-fresh"] = (evaluate(fresh, ours), evaluate(fresh, base))
    reports["addresses-new"] = (evaluate(new, ours), evaluate(new, base))
    for name, group in unseen.items():
        reports[name] = (evaluate(group, ours), evaluate(group, base))
    spoken = unseen["addresses-spoken"]
    for form in ("written", "spoken"):
        group = [e for e in spoken if FORM_OF[id(e)] == form]
        reports[f"addresses-spoken ({form} half)"] = (evaluate(group, ours), evaluate(group, base))
    for name, rows in real.items():
        if args.addresses_only:
            break
        named = [e for e, _ in rows if e.split == args.split]
        reports[name] = (evaluate(named, ours), evaluate(named, base))
        trimmed = [titles_left_visible(e) for e in named]
        reports[f"{name} (titles left visible)"] = (
            evaluate(trimmed, ours),
            evaluate(trimmed, base),
        )
    for name, (mine, theirs) in reports.items():
        if name == "world":
            entities: tuple[str, ...] = ("NAME", "ADDRESS", "EMAIL")
        else:
            entities = ("ADDRESS",) if name.startswith("addresses") else ("NAME",)
        for entity in entities:
            print(line(name, entity, mine, theirs))
    print("\n| address group | country (Faker locale) | gold | recall | baseline recall |")
    print("| --- | --- | ---: | ---: | ---: |")
    groups = {"addresses": street, "addresses-fresh": fresh, "addresses-new": new, **unseen}
    for name, group in groups.items():
        for locale in dict.fromkeys(LOCALE_OF[id(e)] for e in group):
            mine = [e for e in group if LOCALE_OF[id(e)] == locale]
            a = evaluate(mine, ours).tallies["ADDRESS"]
            b = evaluate(mine, base).tallies["ADDRESS"]
            print(f"| {name} | {locale} | {a.tp + a.fn} | {a.recall():.3f} | {b.recall():.3f} |")
    if world:
        left, cases = name_left_beside_email(world, ours)
        b_left, _ = name_left_beside_email(world, base)
        print(f"\nfirst name left beside an e-mail: {left}/{cases} (baseline {b_left}/{cases})")
    print(
        "\n| set | clean commands | falsely redacted | baseline "
        "| of which inside a non-person slot | baseline |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, rows in real.items():
        clean = [e for e, ok in rows if ok and e.split == args.split and not e.spans]
        print(clean_row(name, clean, ours, base))
    for name, rows in real.items():
        texts_of_split = [e.text for e, _ in rows if e.split == args.split]
        print(address_change_line(name, texts_of_split, ours, base))
    if not args.addresses_only:
        print("\n" + timing_line(texts, base.timing))  # type: ignore[attr-defined]
    if args.misses:
        for name, (mine, _) in reports.items():
            for entity, missed, text in mine.misses:
                print(f"MISS {name} {entity}: {missed!r} in {text!r}")
            for entity, extra, text in mine.extras:
                print(f"EXTRA {name} {entity}: {extra!r} in {text!r}")
        for name, rows in real.items():
            for e, ok in rows:
                if ok and e.split == args.split and not e.spans and ours(e.text):
                    print(f"FALSE {name}: {e.text!r} -> {ours(e.text)}")


if __name__ == "__main__":
    main()
