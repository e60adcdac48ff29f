"""The packaged name and word lists, and the small closed word classes the recognizers use."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache
from importlib import resources


def words(text: str) -> frozenset[str]:
    """The whitespace-separated words of a literal word list."""
    return frozenset(text.split())


MONTHS = words(
    "january february march april may june july august september october november december"
)
WEEKDAYS = words("monday tuesday wednesday thursday friday saturday sunday")
HOLIDAYS = words(
    "christmas xmas easter halloween thanksgiving valentine valentines hanukkah diwali ramadan eid"
)
"""Capitalised in English, so out of the lowercase dictionary; never a person in a request."""
RECENT_WORDS = words(
    "app apps wifi online playlist playlists podcast podcasts website smartphone indie"
)
"""Everyday words newer than the dictionary edition the word list comes from."""
STOP_WORDS = words(
    """
    a an the this that these those my your his her its our their me you him them us i i'm im it
    it's we they he she who what when where why how which whose is are was were be been being am
    do does did done have has had would shall should can could might must to of in on at by for
    from with about into onto over under after before up down out off back again now then later
    today tonight tomorrow yesterday soon please thanks thank and or but not no yes so if as than
    too very just also only all any some every each both either neither more most less few many
    much own other another such same there here home work office everyone everybody someone
    somebody anyone anybody nobody everything something anything nothing one ones hey hi hello ok
    okay well oh yeah right left next last first second new old good bad happy little small big
    day night morning evening afternoon week month year that's what's who's there's let's i'll
    i've i'd you're we're they're he's she's it'll don't can't won't isn't via per dont cant wont
    isnt didnt doesnt ive youre theyre youve weve theyve
    """
)
"""Function words and everyday adverbs: never a name, and they end a name."""


@dataclass(frozen=True)
class Lexicon:
    """Name and word lists, all lowercase."""

    first_names: frozenset[str]
    """1990 US Census first names (female and male) and Faker's given names of ~80 locales."""
    surnames: dict[str, int]
    """1990 US Census surnames -> frequency rank (1 = most frequent); then Faker's surnames of
    ~80 locales, all ranked after the census ones."""
    common_words: frozenset[str]
    """SCOWL size-35 dictionary words plus months, weekdays and stop words."""
    census_first_names: frozenset[str] = frozenset()
    """The US Census part of ``first_names``: the only given names trusted when also a word."""
    places: frozenset[str] = frozenset()
    """Countries and cities of 200,000 people or more (GeoNames), multi-word ones space-joined."""
    rare_words: frozenset[str] = frozenset()
    """Words of the larger SCOWL lists only (``bistro``, ``rupee``): not names when unlisted."""

    def is_common(self, word: str) -> bool:
        """True if the word is an ordinary English word (so a name only in context)."""
        return word in self.common_words

    def is_word(self, word: str) -> bool:
        """True if any dictionary lists the word, however rare."""
        return word in self.common_words or word in self.rare_words


def _read_list(name: str) -> list[str]:
    """One packaged gzip list of single words."""
    return " ".join(_read_lines(name)).split()


def _read_lines(name: str) -> list[str]:
    """One packaged gzip list, one entry a line."""
    raw = resources.files("overheard.protect").joinpath("data", name).read_bytes()
    return gzip.decompress(raw).decode("ascii").splitlines()


@cache
def street_types() -> frozenset[str]:
    """USPS street suffixes (``avenue``, ``crossing``, ``turnpike``…), loaded once per process."""
    return frozenset(_read_list("street_types.txt.gz"))


@cache
def lexicon() -> Lexicon:
    """The packaged lexicon, loaded once per process (about 0.1 s)."""
    census_surnames = _read_list("surnames.txt.gz")
    ranked = [*census_surnames, *_read_list("world_surnames.txt.gz")]
    surnames: dict[str, int] = {}
    for rank, name in enumerate(ranked, start=1):
        surnames.setdefault(name, rank)
    common = (
        frozenset(_read_list("common_words.txt.gz"))
        | MONTHS
        | WEEKDAYS
        | HOLIDAYS
        | RECENT_WORDS
        | STOP_WORDS
    )
    census = frozenset(_read_list("first_names.txt.gz"))
    firsts = census | frozenset(_read_list("world_first_names.txt.gz"))
    places = frozenset(_read_lines("places.txt.gz"))
    rare = frozenset(_read_list("rare_words.txt.gz"))
    return Lexicon(firsts, surnames, common, census, places, rare)
