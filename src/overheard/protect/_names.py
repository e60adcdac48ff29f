"""Personal names: a census lexicon decided by context, so ``call will`` is a name and ``will it
rain`` is not. The rules are explained in ``docs/models/redaction.md``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum

from overheard.protect._lexicon import STOP_WORDS, Lexicon, lexicon
from overheard.protect._name_words import (
    AUXILIARIES,
    BARE_OWNED,
    CALENDAR_WORDS,
    CONTACT_NOUNS,
    CONTACT_VERBS,
    DEED_VERBS,
    HANDING_VERBS,
    INTRODUCER_ENDS,
    INTRODUCERS,
    LIFE_EVENTS,
    LINK_WORDS,
    MEDIA_VERBS,
    MESSAGE_NOUNS,
    NAME_PARTICLES,
    NEVER_NAMES,
    OWNED_NOUNS,
    PERSON_VERBS,
    PLACE_HEADS,
    PLACE_WORDS,
    PLATFORMS,
    POSSESSED_NOUNS,
    REGIONS,
    RELATIONS,
    SAYING_STARTS,
    SECOND_OBJECT_STARTS,
    SHOP_FOLLOWERS,
    SUBJECT_MODIFIERS,
    TITLES,
    VERB_OBJECTS,
    WORK_NOUNS,
)
from overheard.protect._pinyin import pinyin_given_name
from overheard.protect._recognizers import US_STATES
from overheard.protect._tokens import Token

PLACE_CUE_SPAN = 3
"""A word that is also a place is a name after ``to/from`` only with a contact word this close."""
MAX_PLACE_WORDS = 3
"""Longest place name looked up (``rio de janeiro``)."""
COMPOUND_HEAD_CHARS = 2
COMPOUND_TAIL_CHARS = 3
"""Shortest parts of a run-together word: ``up|coming``, ``good|night``, but not ``takes|hi``."""
COMPOUND_CHECK_CHARS = 20
"""Words up to this long are checked for being two dictionary words run together (``goodnight``)."""
MIN_UNLISTED_CHARS = 3
"""A name in no list, or only in a list of other languages, has at least this many letters."""
CENSUS_SURNAME_RANKS = 30_000
"""Surnames ranked up to this come from the census list (the rest from Faker's locales)."""
COMMON_SURNAME_RANK = 500
"""A surname this frequent extends a name even when it is also a word (``paul smith``)."""
MIN_ING_CHARS = 5
"""An ``-ing`` word at least this long counts as a verb after ``is/was`` (``doing``, not ``ring``)."""
SUBJECT_AUXILIARIES = frozenset("is was will would has had can could".split())
"""``rahul will come``: between a subject and its verb (``do/does/did`` come before the subject)."""
MIN_PINYIN_CHARS = 6
"""A pinyin given name in no list counts anywhere from this length (``meilin``, ``yuxuan``); a
five-letter one (``jiayi``) only after a link word or with a stronger cue."""
CAPITALISED_SHARE_LIMIT = 0.6
"""Above this share of capitalised words, capitals carry no signal (title case, all caps)."""


class Context(IntEnum):
    """How strongly the words before a token announce a person."""

    NONE = 0
    LINK = 1
    CONTACT = 2
    STRONG = 3


@dataclass(frozen=True)
class _Scan:
    """One text being searched for names, with what every rule needs precomputed."""

    text: str
    tokens: list[Token]
    lex: Lexicon
    caps: bool
    """Whether capital letters carry a signal in this text."""
    contact_before: list[int]
    """contact_before[i]: CONTACT_SEEN if a contact verb or noun occurs before token i, else
    HANDING_SEEN if a handing verb does, else 0."""
    name_ends: set[int] = field(default_factory=set)
    """Indexes of the last tokens of the names found so far (``anna and li``: a list goes on)."""


def find_names(text: str, tokens: list[Token]) -> Iterator[tuple[int, int]]:
    """Character spans of personal names, one span per full name (linear time)."""
    scan = _Scan(text, tokens, lexicon(), _capitals_informative(tokens), _contact_prefix(tokens))
    i = 0
    while i < len(tokens):
        if not _starts_name(scan, i):
            i += 1
            continue
        last = _extend(scan, i)
        scan.name_ends.add(last)
        yield tokens[i].start, tokens[last].stem_end
        i = last + 1


def _capitals_informative(tokens: list[Token]) -> bool:
    """False for all-lowercase (ASR), all-caps or title-case text."""
    alphabetic = [t for t in tokens if t.text[:1].isalpha()]
    capitalised = sum(1 for t in alphabetic if t.capitalised)
    return 0 < capitalised <= CAPITALISED_SHARE_LIMIT * len(alphabetic)


HANDING_SEEN = 1
CONTACT_SEEN = 2


def _contact_prefix(tokens: list[Token]) -> list[int]:
    """For every token, the strongest of handing verb / contact word that came before it."""
    seen = 0
    prefix = []
    for token in tokens:
        prefix.append(seen)
        if token.norm in CONTACT_VERBS or token.norm in CONTACT_NOUNS:
            seen = CONTACT_SEEN
        elif token.norm in HANDING_VERBS:
            seen = max(seen, HANDING_SEEN)
    return prefix


def _starts_name(scan: _Scan, i: int) -> bool:
    """Decide whether token i begins a name."""
    token, lex = scan.tokens[i], scan.lex
    word = token.stem
    if "-" in word and _hyphenated_name(word, lex):
        return True
    if not word.isalpha() or word in STOP_WORDS or word in RELATIONS or word in TITLES:
        return False
    if word in NEVER_NAMES:
        return False
    if _shop_possessive(scan.tokens, i):
        return False  # "charley's steakhouse", "does louie's do take out"
    if word in CONTACT_VERBS and _context(scan, i) == Context.NONE:
        return False  # "ping rashida", "dm tomasz": the verb is the cue, not a name
    if _bare_possessive(scan, i) or _addressed_message(scan, i):
        return True
    first = word in lex.first_names or _pinyin_name(word, lex)
    common = lex.is_common(word)
    if first and word not in lex.census_first_names and (common or len(word) < MIN_UNLISTED_CHARS):
        first = False  # "joke", "come", "co": given names elsewhere, words or fragments here
    if common and not first and word not in lex.surnames:
        return False  # an ordinary word in every context
    unlisted = not (first or common or word in lex.surnames)
    context = _context(scan, i)
    if unlisted and context == Context.LINK and _pinyin_name(word, lex, short_ok=True):
        return True  # "a present for jiayi": a short pinyin name only after a link word
    if unlisted and not _unknown_word(scan, i):
        # "of mahatma gandhi": a word of the larger dictionaries opens a name only with a person
        # cue and a surname that is no word after it; "takeout", "ny" never do
        rare = not common and scan.lex.is_word(word)
        return rare and context >= Context.CONTACT and _surname_follows(scan, i, rare=True)
    if _is_place(scan, i) and not _person_cue(scan, i, context):
        return False
    if first and not common and _full_name(scan, i):
        return True  # "happened to charlie chaplin", "play rohan sharma": a whole name is a person
    if unlisted and _surname_follows(scan, i, rare=True):
        return True  # "is barack obama", "of arijit singh": an unlisted word, then a surname
    if common and first and (_surname_follows(scan, i) or _asked_about(scan, i)):
        return True  # "bill pullman", "did mark post": a word-name before a surname or a deed
    if not common and (_asked_about(scan, i, origin=True) or _subject_of(scan, i)):
        return True  # "was einstein from", "what rihanna is doing": a deed asked or told about
    if common and context == Context.CONTACT and _verb_reading(scan, i):
        return False
    if context >= Context.CONTACT:
        known = first or (word in lex.surnames and not common)
        frequent = lex.surnames.get(word, COMMON_SURNAME_RANK + 1) <= COMMON_SURNAME_RANK
        return known or not common or (context == Context.STRONG and frequent)
    if _person_follows(scan.tokens, i) and (not common or (first and token.norm.endswith("'s"))):
        return True  # "reply to jason's email": the possessive outweighs the preposition
    if unlisted and i + 1 < len(scan.tokens) and scan.tokens[i + 1].norm in LIFE_EVENTS:
        return True  # "rahul marriage reminder": a word in no list owns the event after it
    if context == Context.NONE and (_after_place(scan.tokens, i) or _after_media(scan.tokens, i)):
        return False
    if context <= Context.LINK and (_in_place_name(scan.tokens, i) or word in US_STATES):
        return False
    possessive = first and not common and token.norm.endswith("'s")
    capital = scan.caps and token.capitalised and not _sentence_start(scan, i)
    capital = capital and word not in CALENDAR_WORDS  # English capitalises these anyway
    return (first and not common) or possessive or (capital and (first or word in lex.surnames))


def _pinyin_name(word: str, lex: Lexicon, short_ok: bool = False) -> bool:
    """``xiaoming``, ``meilin``: two pinyin syllables joined, a word of no dictionary and no place
    (``shanghai``, ``beijing`` are places; ``panda``, ``sedan`` words), of at least
    ``MIN_PINYIN_CHARS`` letters unless ``short_ok`` (five-letter ones are often fragments or
    misspellings: ``chane light``, ``handi paneer``)."""
    if len(word) < MIN_PINYIN_CHARS and not short_ok:
        return False
    return pinyin_given_name(word) and not lex.is_word(word) and word not in lex.places


def _shop_possessive(tokens: list[Token], i: int) -> bool:
    """True for ``X's`` before an eatery word or a shop's verb (``SHOP_FOLLOWERS``), with no
    relation or title before it (``my friend joe's cafe`` is still a person's)."""
    if not tokens[i].norm.endswith("'s") or i + 1 >= len(tokens):
        return False
    if i > 0 and (tokens[i - 1].norm in RELATIONS or tokens[i - 1].norm in TITLES):
        return False
    after = tokens[i + 1].norm
    return after in SHOP_FOLLOWERS


def _bare_possessive(scan: _Scan, i: int) -> bool:
    """``johns office number``, ``marks birthday``: ASR drops the apostrophe of a possessive; a
    census given name plus ``s`` before a personal noun is one."""
    tokens, word = scan.tokens, scan.tokens[i].norm
    if not word.endswith("s") or i + 1 >= len(tokens) or tokens[i + 1].norm not in BARE_OWNED:
        return False
    base = word[:-1]
    return base in scan.lex.census_first_names and base not in STOP_WORDS and len(base) > 2


def _addressed_message(scan: _Scan, i: int) -> bool:
    """``send email to cat that …``, ``send mail to bubbles i want …``: the addressee of a message,
    whatever the word, when what is said follows it."""
    tokens = scan.tokens
    if i < 2 or i + 1 >= len(tokens) or tokens[i - 1].norm != "to":
        return False
    if tokens[i - 2].norm not in MESSAGE_NOUNS or tokens[i + 1].norm not in SAYING_STARTS:
        return False
    return not _is_place(scan, i) and tokens[i].stem not in PLATFORMS


def _is_place(scan: _Scan, i: int) -> bool:
    """True if a country or large city (up to MAX_PLACE_WORDS words) starts at token i."""
    stems = [t.stem for t in scan.tokens[i : i + MAX_PLACE_WORDS]]
    if stems[0] in US_STATES or stems[0] in REGIONS:
        return True
    return any(" ".join(stems[:n]) in scan.lex.places for n in range(1, len(stems) + 1))


def _person_cue(scan: _Scan, i: int, context: Context) -> bool:
    """A cue that outweighs a place reading: ``text sofia``, ``with sofia``, ``sofia said``."""
    prev = scan.tokens[i - 1].norm if i else ""
    if context == Context.STRONG or prev == "with" or _person_follows(scan.tokens, i):
        return True
    if prev in ("to", "from"):
        near = scan.tokens[max(0, i - 1 - PLACE_CUE_SPAN) : i - 1]
        return any(t.norm in CONTACT_VERBS or t.norm in CONTACT_NOUNS for t in near)
    return context == Context.CONTACT and prev not in LINK_WORDS


def _verb_reading(scan: _Scan, i: int) -> bool:
    """``to see if``, ``and mark the date``: after a link word, a word-name taking an object."""
    tokens = scan.tokens
    if tokens[i - 1].norm not in LINK_WORDS and tokens[i - 1].norm not in ("to", "from"):
        return False
    return i + 1 < len(tokens) and tokens[i + 1].norm in VERB_OBJECTS


def _asked_about(scan: _Scan, i: int, origin: bool = False) -> bool:
    """``did mark post``, ``does bob live``: an auxiliary before token i, a person verb after it;
    with ``origin`` also a closing ``from`` (``was einstein from``, not ``is walmart from here``)."""
    tokens = scan.tokens
    if i == 0 or i + 1 >= len(tokens) or tokens[i - 1].norm not in AUXILIARIES:
        return False
    after = tokens[i + 1].norm
    return after in DEED_VERBS or (origin and after == "from" and i + 2 == len(tokens))


def _subject_of(scan: _Scan, i: int) -> bool:
    """``what rihanna is doing``, ``rahul will come``: a word that is no English word, followed by
    an auxiliary and a verb a person does (``-ing`` or a deed verb), is the one doing it."""
    tokens = scan.tokens
    if i + 2 >= len(tokens) or tokens[i + 1].norm not in SUBJECT_AUXILIARIES:
        return False
    verb = tokens[i + 2].norm
    return verb in DEED_VERBS or (verb.endswith("ing") and len(verb) >= MIN_ING_CHARS)


def _full_name(scan: _Scan, i: int) -> bool:
    """True if a surname or a word in no list (not a place) follows token i, which is no
    possessive (``charley's steakhouse``: what follows a possessive is owned, not a surname)."""
    if scan.tokens[i].norm.endswith("'s"):
        return False
    following = i + 1 < len(scan.tokens) and _unknown_word(
        scan, i + 1, rare_ok=True, compound_ok=True
    )
    return _surname_follows(scan, i) or following or _census_surname_follows(scan, i)


def _census_surname_follows(scan: _Scan, i: int) -> bool:
    """``tom cruise``, ``emma stone``: a census surname, even one that is also a word, after a
    given name that is not one; both must be census entries (foreign lists hold many words)."""
    if i + 1 >= len(scan.tokens) or scan.tokens[i].stem not in scan.lex.census_first_names:
        return False
    if _in_place_name(scan.tokens, i) or scan.lex.is_common(scan.tokens[i].stem):
        return False  # "san francisco due", "will power"
    word = scan.tokens[i + 1].stem
    rank = scan.lex.surnames.get(word, CENSUS_SURNAME_RANKS + 1)
    ordinary = word in STOP_WORDS or word in CALENDAR_WORDS or word in WORK_NOUNS
    ordinary = ordinary or word in DEED_VERBS or word in AUXILIARIES or word in VERB_OBJECTS
    ordinary = ordinary or word in SUBJECT_MODIFIERS
    return rank <= CENSUS_SURNAME_RANKS and not ordinary


def _surname_follows(scan: _Scan, i: int, rare: bool = False) -> bool:
    """True if the next word is a listed surname that is not an ordinary word (with ``rare``: not
    a word of any dictionary)."""
    if i + 1 >= len(scan.tokens):
        return False
    word, lex = scan.tokens[i + 1].stem, scan.lex
    ordinary = lex.is_word(word) if rare else lex.is_common(word)
    return word in lex.surnames and not ordinary and word not in STOP_WORDS


def _hyphenated_name(word: str, lex: Lexicon) -> bool:
    """``jean-luc``, ``smith-jones``: every part a first name or surname, none a common word."""
    parts = word.split("-")
    return len(parts) > 1 and all(
        p.isalpha() and (p in lex.first_names or p in lex.surnames) and not lex.is_common(p)
        for p in parts
    )


def _hyphenated_part(scan: _Scan, word: str) -> bool:
    """A hyphenated further name part: letters only, no function word, and at least one part a
    name or a word of no dictionary (``ji-woo``, ``okonkwo-adeyemi``, not ``well-known``)."""
    parts = word.split("-")
    if len(parts) < 2 or not all(p.isalpha() and p not in STOP_WORDS for p in parts):
        return False
    lex = scan.lex
    return any(
        not lex.is_common(p) and (p in lex.first_names or p in lex.surnames or not lex.is_word(p))
        for p in parts
    )


def _context(scan: _Scan, i: int) -> Context:
    """The context class the tokens before i give."""
    before = [t.norm for t in scan.tokens[max(0, i - 3) : i]]
    prev = before[-1] if before else ""
    introduced = prev in INTRODUCER_ENDS and any(_ends_with(before, p) for p in INTRODUCERS)
    if prev in RELATIONS or prev in TITLES or introduced:
        return Context.STRONG
    if _listed_after_name(scan, i) or _in_contacts(scan.tokens, i):
        return Context.CONTACT
    if prev in CONTACT_VERBS or (prev in HANDING_VERBS and _object_follows(scan.tokens, i)):
        return Context.CONTACT
    if prev == "let" and i + 1 < len(scan.tokens) and scan.tokens[i + 1].norm == "know":
        return Context.CONTACT  # "let priyanka know i'm late"
    if prev == "add" and _added_to(scan, i):
        return Context.CONTACT  # "add dariush to the party list", not "add song to …"
    if prev == "of" and len(before) >= 2 and before[-2] in OWNED_NOUNS:
        return Context.CONTACT
    if prev == "of" and _ends_with(before[:-1], ("birth", "date")):
        return Context.CONTACT  # "the birth date of mahatma gandhi"
    if prev in LINK_WORDS or prev in ("to", "from"):
        seen = scan.contact_before[i]
        if seen == CONTACT_SEEN or (seen == HANDING_SEEN and prev == "to"):
            return Context.CONTACT  # "show news from bbc": a handing verb points only with "to"
        return Context.LINK if prev in LINK_WORDS else Context.NONE
    return Context.NONE


def _added_to(scan: _Scan, i: int) -> bool:
    """``add X to``: token i, no ordinary word, is put on a list or into a group or call."""
    tokens = scan.tokens
    following = i + 1 < len(tokens) and tokens[i + 1].norm == "to"
    return following and not scan.lex.is_common(tokens[i].stem)


def _listed_after_name(scan: _Scan, i: int) -> bool:
    """``anna and li``, ``anna, li``: token i follows a name found just before, in a list."""
    tokens = scan.tokens
    if i >= 2 and tokens[i - 1].norm in ("and", "or") and i - 2 in scan.name_ends:
        return True
    gap = scan.text[tokens[i - 1].end : tokens[i].start] if i else ""
    return i - 1 in scan.name_ends and "," in gap


def _in_contacts(tokens: list[Token], i: int) -> bool:
    """``search jack in contacts``, ``is bill in my contacts``: looked up among people."""
    after = [t.norm for t in tokens[i + 1 : i + 4]]
    return after[:1] == ["in"] and (after[1:2] == ["contacts"] or after[1:3] == ["my", "contacts"])


def _object_follows(tokens: list[Token], i: int) -> bool:
    """``send maria an email``, ``give will a call``: a second object follows token i."""
    return i + 1 < len(tokens) and tokens[i + 1].norm in SECOND_OBJECT_STARTS


def _ends_with(words: list[str], pattern: tuple[str, ...]) -> bool:
    """True if the word list ends with the pattern."""
    return tuple(words[-len(pattern) :]) == pattern


def _after_place(tokens: list[Token], i: int) -> bool:
    """True if the previous word is a place preposition."""
    return i > 0 and tokens[i - 1].norm in PLACE_WORDS


def _after_media(tokens: list[Token], i: int) -> bool:
    """True if the previous word opens an app or plays a title."""
    return i > 0 and tokens[i - 1].norm in MEDIA_VERBS


def _in_place_name(tokens: list[Token], i: int) -> bool:
    """True after ``los``, ``north``, ``st``…: the word is part of a place name."""
    return i > 0 and tokens[i - 1].norm in PLACE_HEADS


def _person_follows(tokens: list[Token], i: int) -> bool:
    """``haoran's flight``, ``kwame said``: the next word belongs to or is done by a person."""
    norm = tokens[i].norm
    if i + 1 >= len(tokens) or not norm.removesuffix("'s").isalpha():
        return False  # contractions: "didn't say", "you've said"
    after = tokens[i + 1].norm
    if norm.endswith("'s"):
        return after in POSSESSED_NOUNS
    return after in PERSON_VERBS


def _sentence_start(scan: _Scan, i: int) -> bool:
    """True at the first word or after sentence-ending punctuation."""
    if i == 0:
        return True
    gap = scan.text[scan.tokens[i - 1].end : scan.tokens[i].start]
    return any(mark in gap for mark in ".!?:")


def _extend(scan: _Scan, i: int) -> int:
    """Index of the last token of the name that starts at i (surnames and middle names)."""
    last = i
    tokens = scan.tokens
    while not tokens[last].norm.endswith("'s") and last + 1 < len(tokens):
        if _continues_name(scan, last + 1) or (last == i and _census_surname_follows(scan, i)):
            last += 1
            continue
        particles = _particles_end(scan, last + 1)
        if particles is None:
            break
        last = particles + 1  # "ahmed bin salem", "maria de la cruz"
    return last


def _particles_end(scan: _Scan, j: int) -> int | None:
    """Index of the last of one or two name particles at j (``bin``, ``van der``) when a name part
    follows them, else None."""
    tokens = scan.tokens
    k = j
    while k < len(tokens) and k - j < 2 and tokens[k].norm in NAME_PARTICLES:
        if "," in scan.text[tokens[k - 1].end : tokens[k].start]:
            return None
        k += 1
    if k == j or k >= len(tokens) or not _continues_name(scan, k):
        return None
    return k - 1


def _continues_name(scan: _Scan, j: int) -> bool:
    """True if token j is a further part of the name before it."""
    token, lex = scan.tokens[j], scan.lex
    word = token.stem
    if "-" in word and not _sentence_start(scan, j) and _hyphenated_part(scan, word):
        return True  # "kim ji-woo", "ngozi okonkwo-adeyemi"
    if not word.isalpha() or word in STOP_WORDS or _sentence_start(scan, j):
        return False
    if "," in scan.text[scan.tokens[j - 1].end : token.start]:
        return False  # "wojciech, aigerim": a list of people, not one name
    common = lex.is_common(word)
    rank = lex.surnames.get(word)
    if rank is not None and (not common or rank <= COMMON_SURNAME_RANK):
        return True
    if (word in lex.first_names or _pinyin_name(word, lex)) and not common:
        return True
    if _unknown_word(scan, j, rare_ok=True, compound_ok=True):
        return True  # "george clooney", "ryan seacrest": a word no dictionary holds
    return scan.caps and token.capitalised and not common


def _unknown_word(scan: _Scan, j: int, rare_ok: bool = False, compound_ok: bool = False) -> bool:
    """True if token j is in no word list, no place, and not two dictionary words run together;
    with ``rare_ok`` a word only the larger dictionaries hold counts as unknown (``grebe``), with
    ``compound_ok`` also two words run together (``seacrest`` after ``ryan``)."""
    word, lex = scan.tokens[j].stem, scan.lex
    known = lex.is_common(word) if rare_ok else lex.is_word(word)
    if known or word in NEVER_NAMES or _is_place(scan, j):
        return False
    if len(word) > COMPOUND_CHECK_CHARS or len(word) < MIN_UNLISTED_CHARS or not word.isalpha():
        return False
    if compound_ok:
        return True
    splits = range(COMPOUND_HEAD_CHARS, len(word) - COMPOUND_TAIL_CHARS + 1)
    return not any(lex.is_common(word[:k]) and lex.is_common(word[k:]) for k in splits)


def names_before_emails(
    tokens: list[Token], emails: list[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
    """``maria maria.lopez@example.com``: a given name right before an e-mail is the owner's name."""
    lex = lexicon()
    by_end = {t.end: t for t in tokens}
    for start, _end in emails:
        token = next(
            (by_end[e] for e in range(start - 1, max(start - 3, 0) - 1, -1) if e in by_end), None
        )
        if token is None:
            continue
        word = token.stem
        ordinary = not word.isalpha() or word in STOP_WORDS or word in NEVER_NAMES
        if not ordinary and (word in lex.first_names or word in lex.surnames):
            yield token.start, token.stem_end
