"""Street addresses (``12 Baker Street``, ``twenty two acacia avenue``, ``4 gandhi marg``), UK
postcodes and Irish Eircodes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from overheard.protect._lexicon import (
    HOLIDAYS,
    MONTHS,
    STOP_WORDS,
    WEEKDAYS,
    lexicon,
    street_types,
    words,
)
from overheard.protect._numbers import NUMBER_WORDS, UNITS, is_spoken_number
from overheard.protect._recognizers import AU_STATE_CODES, US_STATE_CODES, US_STATES
from overheard.protect._street_words import (
    ADJECTIVE_ENDINGS,
    JOINED_SUFFIXES,
    MIN_JOINED_NAME_CHARS,
    SLAVIC_PREPOSITIONS,
    TYPES_AFTER,
    TYPES_BEFORE,
    WEAK_TYPES_AFTER,
    WEAK_TYPES_BEFORE,
    fold,
)
from overheard.protect._tokens import Token

Found = tuple[int, int, str]

UK_POSTCODE = re.compile(r"[a-z]{1,2}\d[a-z\d]?\d[abd-hjlnp-uw-z]{2}")
UK_OUTWARD = re.compile(r"[a-z]{1,2}\d[a-z\d]?")
UK_INWARD = re.compile(r"\d[abd-hjlnp-uw-z]{2}")
"""The inward code: a digit and two letters, never ``c i k m o v`` (so ``O77OO``, a phone number
typed with letters for zeros, is no postcode)."""
EIRCODE = re.compile(r"(?:[ac-fhknprtv-y]\d{2}|d6w)(?=[0-9a-z]*\d)[0-9ac-fhknprtv-y]{4}")
"""Irish Eircode, routing key and identifier joined (``d02x285``); letters from its own alphabet."""
CA_POSTCODE = re.compile(r"[abceghj-nprstvxy]\d[abceghj-nprstv-z]\d[abceghj-nprstv-z]\d")
"""Canadian postal code, forward sortation area and local delivery unit joined (``k1a0b1``); the
letters of its own alphabet (no ``d f i o q u``, no ``w z`` first)."""
CA_FSA = re.compile(r"[abceghj-nprstvxy]\d[abceghj-nprstv-z]")
CA_LDU = re.compile(r"\d[abceghj-nprstv-z]\d")
EIRCODE_ROUTING = re.compile(r"[ac-fhknprtv-y]\d{2}|d6w")
EIRCODE_UNIQUE = re.compile(r"(?=[0-9a-z]*\d)(?=[0-9a-z]*[a-z])[0-9ac-fhknprtv-y]{4}")
"""The four-character identifier of a written-apart Eircode (``d02 x285``): a letter and a digit."""
POSTCODE_WORDS = ("postcode", "post code", "postal code")
SPOKEN_POSTCODE_MAX_TOKENS = 9
"""``s w one a one a a`` is seven words; longer spellings are not tried."""
STREET_TYPES = words(
    """
    street st road rd avenue ave lane ln drive dr close way court ct place pl crescent cres terrace
    boulevard blvd grove gardens square sq hill row mews walk parkway highway hwy circle cir trail
    green rise vale parade wharf embankment approach view yard quay circus
    pde tce cl cct circuit esplanade esp promenade boulevarde bvd crt cnr fwy mwy strand wynd
    brae glade grange heights lawn lawns downs manor wood woods vista chase cove ridge retreat
    reserve loop link track gate gdns gr av lne access alleyway amble anchorage arcade artery
    basin bend boardwalk brace break broadway brow byway centre centreway circlet colonnade concourse
    copse corso courtyard crossway cruiseway cul-de-sac cutting dell deviation dip distributor
    driveway elbow entrance fairway firetrail footway foreshore formation frontage gates glade
    highroad interchange laneway lees lookout meander mew nook outlook parklands pathway piazza
    plateau pocket quad quadrangle quadrant quays ramble reach ride ridgeway riverway riviera
    roadway ronde rotary siding slope tarn thoroughfare tollway tor trunkway villas wade walkway
    marg nagar chowk gali colony layout enclave vihar bagh puram peth salai sarani extension ext
    roadside strip towers triangle rosebowl gully range
    ganj pura bazar bazaar halli palya wadi
    umgwaqo indlela isitaladi ithafa indawo straat rylaan singel laan steeg
    """
)
"""English road types of every country, with their postal abbreviations (``pde``, ``tce``, ``cct``),
including the road types of the Australian and New Zealand addressing standard (AS/NZS 4819:
``amble``, ``concourse``, ``laneway``), and the road and locality words of Indian addresses
(``marg``, ``nagar``, ``salai``), and the Zulu and Afrikaans road types of South African
addresses (``umgwaqo`` road, ``indlela`` way, ``isitaladi`` street, ``straat``, ``rylaan``,
``singel``). The standard's types that are mostly function-like words (``end``, ``top``, ``run``,
``turn``, ``line``, ``part``) are left out."""
WEAK_STREET_TYPES = words(
    "end top turn line part edge lower upper front gap ground ring round sound follow steps stairs"
)
"""The AS/NZS 4819 road types that are everyday words (``95 john turn``, ``8 Banks Line``): a
street type only after a house number and name words that are all given names or surnames (an
ordinary word, ``mark``, ``banks``, only when capitalised), and only at the end of the request or
before a function word (``at 7 will turn``, ``for 7 mark end`` are no address)."""
NAME_LIKE_EXCLUDED = words("will may can shall would could should might must did does")
"""Auxiliaries that are also given names: never the name part of a street with a weak type."""
HOUSE_NUMBER_MARKS = words("h.no hno d.no dno")
"""``H.No. 87``, ``D.No. 4``: house and door number marks of Indian addresses."""
STREET_NAME_ADJECTIVES = words("new old little big upper lower first second great")
"""Function-like words that still open street names (``new road``, ``old mill lane``)."""
STREET_NAME_QUALIFIERS = STREET_NAME_ADJECTIVES | words("north south east west middle")
"""Words that qualify a street name rather than name it (``old``, ``north``, ``middle``)."""
ORDINAL = re.compile(r"\d{1,3}(?:st|nd|rd|th)")
"""``5th avenue``, ``21st street``."""
STREET_PREFIXES = words(
    """
    rue calle rua avenida viale piazza plaza corso carrer strada ulica
    jalan jln lorong lrg persiaran psn lebuh lebuhraya lengkok lingkaran laluan lintang
    jl gg gang
    chemin impasse allee allée quai
    travessa rodovia estrada alameda praca praça avda carrera camino paseo callejon callejón
    via vicolo piazzale contrada borgo
    ul aleja plac
    duong đường pho phố ngo ngõ hem hẻm kalye soi
    avenue boulevard bd
    beco viela vila largo ladeira parque jardim quadra setor conjunto residencial condominio
    condomínio vereda trecho passarela patio pátio sitio sítio chacara chácara fazenda nucleo
    núcleo colonia colônia distrito morro lago lagoa praia recanto esplanada trevo favela campo
    vale estacao estação
    calzada cerrada privada andador circuito circunvalacion circunvalación continuacion
    continuación corredor diagonal eje pasaje peatonal periferico periférico prolongacion
    prolongación retorno viaducto ampliacion ampliación carretera
    stretto incrocio canale rotonda salita galleria lungomare vico traversa
    """
)
MALAY_STREET_PREFIXES = words(
    "jalan jln lorong lrg persiaran psn lebuh lebuhraya lengkok lingkaran laluan lintang"
)
"""``27 rue de rivoli``, ``56 calle mayor``, ``12 jalan bukit bintang``: the street type comes
first in these languages (the second line: the road types of Malaysian addresses, Malay, with
their postal abbreviations ``jln``, ``lrg``, ``psn``; then Indonesian ``jl.``/``gg.``/``gang``,
French, Portuguese and Spanish, Italian, Polish ``ul.``, Vietnamese ``đường``/``phố``/``ngõ``/
``hẻm``, Filipino ``kalye``, Thai ``soi``; French ``avenue``/``boulevard`` before the name
(``50, avenue de lebon``); then the street types of Brazil's postal standard, Mexico's
national address standard and Italy's generic street names that come first: ``beco``,
``ladeira``, ``quadra``, ``vereda``, ``cerrada``, ``privada``, ``andador``, ``eje``,
``prolongación``, ``stretto``, ``incrocio``, ``rotonda``…)."""
WORD_PREFIXES = words(
    "gang via borgo contrada pho ngo hem soi plac plaza corso strada avenue boulevard bd vale"
    " campo diagonal circuito corredor parque lago vila"
)
"""Prefixes that are also English words or fragments (``a gang of``, ``via email``): a street
type only before a name word that is no common English word (``9 gang dipatiukur``)."""
NUMBER_AFTER_PREFIXES = STREET_PREFIXES
"""Prefixes whose street may be written before its house number (``jl. peta no. 75``, ``via roma
10``, ``rua augusta, 123``, ``ul. dluga 5``, ``calle mayor 56``)."""
STREET_NAME_LINKS = words(
    "de da do das dos del della delle dei di du des la le les van von der y e"
)
"""Small words inside a prefixed street name (``rua do carmo``, ``rue de la paix``): part of it
only between two name words."""
HOUSE_NUMBER_WORDS = words("no nr nº n° num numero número #")
"""``jl. peta no. 75``, ``calle mayor nº 5``: the mark between a street and its house number."""
SECTION_NUMBER = re.compile(r"\d{1,3}(?:/\d{1,3})?[a-z]?")
"""``jalan 4/32c``, ``jln pudu 5``, ``jalan sultan abdul samad 38t``: the section or road number
that closes a Malaysian street name, after or instead of its name words."""
LOCAL_STREET_TYPES = words(
    "sarak sorok moor mor para ghat hat char danga tala tola khali diya mati mohalla stand"
)
"""Road, crossing and locality words of Bangladeshi (Bengali) addresses: ``sarak``/``sorok``
road, ``mor`` crossing, ``para``/``mohalla`` neighbourhood, ``ghat`` landing, ``hat`` market,
``char`` river island, ``danga``, ``tala``, ``khali``, ``diya``, ``mati`` (place-name endings),
and ``stand`` (bus or rickshaw stand). Many are English words (``hat``, ``char``, ``stand``), so
alone they end a street only after name words that are no common word (``rayhat stand``,
``lalchar para``), never after ``2 red hat``."""
JOINED_STREET_TYPES = (
    *sorted(LOCAL_STREET_TYPES),
    "road",
    "lane",
    "street",
    "avenue",
    "plaza",
    "center",
    "centre",
    "corner",
    "station",
    "market",
    "bazar",
    "bazaar",
    "ganj",
    "nagar",
)
"""``nandiroad``, ``bijoychar``, ``hakimcorner``: a street name and its type written as one word, as
Bangladeshi and Indian addresses often are; the word must be in no dictionary (``tomorrow`` ends in
``row`` but is a word, and ``row`` and the other short types are not tried)."""
MIN_JOINED_HEAD_CHARS = 3
STREET_SUFFIXES = (
    "strasse",
    "straße",
    "str",
    "weg",
    "gasse",
    "allee",
    "platz",
    "straat",
    "laan",
    "gatan",
    "vagen",
    "utca",
    "ulica",
    "damm",
    "ufer",
    "chaussee",
    "steig",
    "pfad",
    "gracht",
    "kade",
    "plein",
    "vej",
    "gata",
    "vägen",
    "ring",
)
"""``hauptstrasse 5``, ``karl-peter-etzold-gasse 9/3``: one word (hyphens allowed) ending in a
street type, then the house number, written or spoken (a word of no dictionary: ``offering 5``,
``spring 5`` are no street)."""
SEPARATE_SUFFIX_TYPES = words(
    "strasse straße str weg gasse allee platz ring damm ufer chaussee straat laan gracht kade"
    " plein vej gata gatan vägen vagen utca"
)
"""``berliner straße 12``, ``frankfurter str. 5``: the German, Dutch and Nordic type as a word of
its own after the name, then the house number."""
RT_RW = re.compile(r"(?:(?:rt|rw)\.?)?\d{0,3}(?:/(?:(?:rt|rw)\.?)?\d{0,3})?")
"""``rt 02/rw 05``, ``rt.02/rw.05``: the neighbourhood and hamlet numbers of Indonesian addresses."""
RT_RW_MAX_TOKENS = 4
BARE_CUES = words("to at from for")
"""``drive to 49 oxford``, ``the party is at 560 milner``: before a house number and a bare street
name with no street type (as South African addresses are often said)."""
BARE_STREET_MAX_WORDS = 2
MIN_UNKNOWN_STREET_CHARS = 5
"""A bare street name of words in no list needs one of at least this many letters
(``voortrekker``; ``to 150 kmph`` is no street)."""
MAX_TIME_NUMBER = 12
"""A lone number up to this is read as a time (``at seven thomas``, ``at 5 john``), not a house."""
STREET_NAME_MAX_WORDS = 3
HOUSE_NUMBER_MAX_WORDS = 6
"""``one hundred and twenty three`` is five words; a longer spoken run is no house number."""
HOUSE_NUMBER = re.compile(
    r"#?\d{1,5}(?:/\d{1,5})?(?:-\d{1,5})?(?:-?[a-z])?|\d{1,3}[a-z]-\d{1,4}|[a-z]-\d{1,3}-\d{1,4}"
    r"|\d{1,5}[a-z]/\d{1,5}[a-z]?"
)
"""``12``, ``221b``, ``5181-g``, ``12-14`` (a range), ``#12``, and ``6/170`` (unit 6 at number
170, as written in Australia); block, floor and unit of a flat as Malaysian addresses write them
(``8v-09``, ``2f-47``, ``h-89-10``); a letter and a building part, as Croatian and Czech
addresses write them (``7c/7``, ``5b/3``)."""
RESIDING_WORDS = words("live lives living lived stay stays staying")
"""``lives on``, ``staying at``: the street after these is someone's home, number or not."""
UNIT_WORDS = words(
    "flat apartment apt unit suite lot block blk plot house door interior int edif depto dpto"
    " apto appartamento piano bloco casa sala lote"
)
UNIT_NUMBER = re.compile(r"#?\d{1,4}[a-z]?|[a-z]\d{0,3}")
UNIT_DIGITS = re.compile(r"#?\d{1,4}[a-z]?|[a-z]-?\d{1,4}")
"""A unit number after the street has a digit (``4b``, ``b12``); ``house a few`` is no unit."""
NUMBER_MARKS = words("no no. number #")
"""``unit no 5``, ``house number 12``: a word between the unit word and its number."""


def find_postcodes(tokens: list[Token]) -> Iterator[Found]:
    """UK postcodes written (``SW1A 1AA``, ``sw1a1aa``) or spelled after ``postcode``; Irish
    Eircodes and Canadian postal codes (``K1A 0B1``) written."""
    i = 0
    while i < len(tokens):
        last = _written_postcode_end(tokens, i)
        if last is None and _after_postcode_word(tokens, i):
            last = _spoken_postcode_end(tokens, i)
        if last is None:
            i += 1
            continue
        yield tokens[i].start, tokens[last].end, "POSTCODE"
        i = last + 1


def _written_postcode_end(tokens: list[Token], i: int) -> int | None:
    """Last token index of a written postcode at i, or None."""
    word = tokens[i].norm
    if UK_POSTCODE.fullmatch(word) or EIRCODE.fullmatch(word) or CA_POSTCODE.fullmatch(word):
        return i
    nxt = tokens[i + 1].norm if i + 1 < len(tokens) else ""
    if EIRCODE_ROUTING.fullmatch(word) and EIRCODE_UNIQUE.fullmatch(nxt):
        return i + 1
    if CA_FSA.fullmatch(word) and CA_LDU.fullmatch(nxt):
        return i + 1
    if (
        UK_OUTWARD.fullmatch(word)
        and i + 1 < len(tokens)
        and UK_INWARD.fullmatch(tokens[i + 1].norm)
    ):
        return i + 1
    return None


def _after_postcode_word(tokens: list[Token], i: int) -> bool:
    """True if ``postcode`` / ``post code`` (optionally ``is``) comes just before token i."""
    if i == 0 or tokens[i - 1].norm not in ("postcode", "code", "is"):
        return False
    before = " ".join(t.norm for t in tokens[max(0, i - 3) : i])
    return before.endswith(POSTCODE_WORDS) or before.endswith(
        tuple(w + " is" for w in POSTCODE_WORDS)
    )


def _spoken_postcode_end(tokens: list[Token], i: int) -> int | None:
    """Last token index of the longest spelled UK or Canadian postcode at i (``m one one a e``,
    ``k one a zero b one``), or None."""
    spelled = ""
    best = None
    for j in range(i, min(len(tokens), i + SPOKEN_POSTCODE_MAX_TOKENS)):
        piece = _spelled_piece(tokens[j].norm)
        if piece is None:
            break
        spelled += piece
        if UK_POSTCODE.fullmatch(spelled) or CA_POSTCODE.fullmatch(spelled):
            best = j
    return best


def _spelled_piece(word: str) -> str | None:
    """What a spelled-out word contributes: a letter, a digit or a short letters-and-digits chunk."""
    if word in UNITS:
        return UNITS[word] if word != "oh" else None
    if word.isascii() and word.isalnum() and len(word) <= 4 and word not in NUMBER_WORDS:
        return word
    return None


def find_addresses(tokens: list[Token]) -> Iterator[Found]:
    """House number, up to three name words, and a street type; a leading flat number joins."""
    caps = _capitals_informative(tokens)
    i = 0
    while i < len(tokens):
        found = (
            _address_at(tokens, i)
            or _continental_at(tokens, i)
            or _cued_street_at(tokens, i)
            or _grid_at(tokens, i)
            or _number_after_at(tokens, i)
            or _bare_street_at(tokens, i, caps)
            or _cued_prefix_street_at(tokens, i)
            or _name_then_number_at(tokens, i)
        )
        if found is None:
            i += 1
            continue
        first, last = found
        last = _unit_after(tokens, last)
        yield tokens[first].start, tokens[last].end, "ADDRESS"
        i = last + 1


MAX_UNITS_AFTER = 3
"""``edif. 241, depto. 157``: building, then flat, after the street; at most this many."""


def _unit_after(tokens: list[Token], last: int) -> int:
    """Index of the last token of the flat, suite or unit numbers written after the street
    (``200 main street apt 4b``, ``14 high road, flat 3``, ``calle chiapas 489 edif. 241, depto.
    157``), else last."""
    last = _rt_rw_after(tokens, last)
    for _ in range(MAX_UNITS_AFTER):
        further = _one_unit_after(tokens, last)
        if further == last:
            break
        last = further
    return last


def _one_unit_after(tokens: list[Token], last: int) -> int:
    """One flat, suite or unit number after token ``last`` (the unit word may already close the
    street as a street type, USPS ``flat``), else last."""
    j = last if tokens[last].norm in UNIT_WORDS else last + 1
    if j >= len(tokens) or tokens[j].norm not in UNIT_WORDS:
        return last
    k = j + 1
    if k < len(tokens) and tokens[k].norm in NUMBER_MARKS:
        k += 1
    if k < len(tokens) and UNIT_DIGITS.fullmatch(tokens[k].norm):
        return k
    end = k
    while end < len(tokens) and end - k < HOUSE_NUMBER_MAX_WORDS and is_spoken_number(tokens, end):
        end += 1
    return end - 1 if end > k else last


def _rt_rw_after(tokens: list[Token], last: int) -> int:
    """Index of the last token of ``rt 02/rw 05`` written after an Indonesian street, else last."""
    k = last + 1
    if k >= len(tokens) or not tokens[k].norm.startswith(("rt", "rw")):
        return last
    end = last
    while k < len(tokens) and k - last <= RT_RW_MAX_TOKENS and RT_RW.fullmatch(tokens[k].norm):
        end = k
        k += 1
    return end


def _address_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """(first, last) token indexes of an address whose house number starts at i, or None."""
    number_end = _house_number_end(tokens, i)
    if number_end is None:
        return None
    street_end = _street_end(tokens, _after_inner_unit(tokens, number_end + 1))
    if street_end is None:
        return None
    return _unit_start(tokens, i), street_end


def _after_inner_unit(tokens: list[Token], j: int) -> int:
    """Index after a unit letter or ``unit a`` written between house number and street
    (``1315 a virgo road``, ``4243 unit a lily extension``), else j."""
    if j >= len(tokens):
        return j
    word = tokens[j].norm
    if len(word) == 1 and word.isalpha():
        return j + 1
    if word in UNIT_WORDS and j + 1 < len(tokens) and UNIT_NUMBER.fullmatch(tokens[j + 1].norm):
        return j + 2
    return j


def _cued_street_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """``i live on baker street``, ``my address is mill lane``: a street after a home cue."""
    before = tuple(t.norm for t in tokens[max(0, i - 2) : i])
    cued = len(before) == 2 and (
        (before[0] in RESIDING_WORDS and before[1] in ("on", "at", "in"))
        or before == ("address", "is")
    )
    if not cued:
        return None
    street_end = _street_end(tokens, i)
    return (i, street_end) if street_end is not None else None


def _continental_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """``hauptstrasse 5`` at i, or a house number then ``rue de rivoli``; else None."""
    word = tokens[i].norm
    if i + 1 < len(tokens) and _joined_suffix_street(word):
        number_end = _house_number_end(tokens, i + 1)
        if number_end is not None:
            return i, number_end
    separate = _separate_type_at(tokens, i)
    if separate is not None:
        return separate
    number_end = _house_number_end(tokens, i)
    if number_end is None or number_end + 2 >= len(tokens) + 1:
        return None
    j = number_end + 1
    if j >= len(tokens) or not _prefix_type(tokens[j].norm):
        return None
    last = _prefixed_name_end(tokens, j, after_number=True)
    if (
        tokens[j].norm in MALAY_STREET_PREFIXES
        and last + 1 < len(tokens)
        and SECTION_NUMBER.fullmatch(tokens[last + 1].norm)
    ):
        last += 1  # "jalan pudu 5", "jln 4/6": the road's section number closes it
    return (_unit_start(tokens, i), last) if last > j else None


@lru_cache(maxsize=16384)
def _joined_suffix_street(word: str) -> bool:
    """``hauptstrasse``, ``kerkstraat``, ``tonemestergade``, ``elimäentie``: one word of no
    dictionary ending in a street type (``JOINED_SUFFIXES``: of many languages, accent-free)
    after a name part of at least three letters."""
    if not _street_word(word) or len(word) <= 5:
        return False
    if not word.endswith(STREET_SUFFIXES):
        plain = fold(word)
        if not plain.endswith(JOINED_SUFFIXES):
            return False
        kind = next(t for t in JOINED_SUFFIXES if plain.endswith(t))
        if len(plain) - len(kind) < MIN_JOINED_NAME_CHARS:
            return False
    lex = lexicon()
    return not lex.is_word(word) and not lex.is_word(word.replace("-", ""))


def _separate_type_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """``berliner straße 12``, ``egils allé 994``, ``lilli scholz gasse five three``: one to three
    name words at i, a type of ``SEPARATE_SUFFIX_TYPES`` or ``TYPES_AFTER`` (or a word of no
    dictionary ending in one, ``puistokatu``), then a written or spoken house number. With a
    spoken number or a type that is an English word (``ring``, ``tie``), the name words must be
    no common English word or be written capitalised; else None."""
    for k in range(i + 1, min(len(tokens) - 1, i + 4)):
        word = tokens[k].norm
        plain = fold(word)
        known = word in SEPARATE_SUFFIX_TYPES or plain in TYPES_AFTER
        if not (known or _joined_suffix_street(word)):
            continue
        named = all(
            _street_word(t.norm) and t.norm not in STOP_WORDS and t.norm not in NUMBER_WORDS
            for t in tokens[i:k]
        )
        if not named:
            return None
        if HOUSE_NUMBER.fullmatch(tokens[k + 1].norm) and _digits(tokens[k + 1]):
            end = k + 1
            strict = plain in WEAK_TYPES_AFTER
        else:
            number_end = _house_number_end(tokens, k + 1)
            if number_end is None:
                return None
            end, strict = number_end, True
        if strict and not _unusual_name(tokens[i:k]):
            return None
        return i, _house_number_tail(tokens, end)
    return None


def _unusual_name(tokens: list[Token]) -> bool:
    """True if every word is no common English word, or written capitalised (``Ring``)."""
    lex = lexicon()
    return all(not lex.is_common(t.norm) or t.capitalised for t in tokens)


def _house_number_tail(tokens: list[Token], end: int) -> int:
    """Index of the last token of a letter, and a building part after it, that follow a house
    number ending at end (``nine a``, ``five b nine``, ``zero c one``: ``9a``, ``5b/9``); a letter
    counts only at the end of the request or before a function word or a number; else end."""
    k = end + 1
    if k >= len(tokens) or len(tokens[k].norm) != 1 or not tokens[k].norm.isalpha():
        return end
    after = tokens[k + 1].norm if k + 1 < len(tokens) else ""
    if after.isdigit() and len(after) <= 3:
        return k + 1
    if after and after in NUMBER_WORDS:
        number_end = _house_number_end(tokens, k + 1)
        return number_end if number_end is not None else k
    return k if not after or after in STOP_WORDS else end


def _digits(token: Token) -> bool:
    """True if the token has a digit (a written house number, not ``a``)."""
    return any(c.isdigit() for c in token.norm)


INITIAL = re.compile(r"[^\W\d_]{1,4}(?:\.[^\W\d_]{1,4})*")
"""``k.h``, ``r.e``, ``ir``, ``a``: initials and title abbreviations inside a street's name
(``jl. k.h. wahid hasyim``, ``gg. jend. a. yani``)."""
PREFIXED_NAME_MAX_WORDS = 4


def _prefix_type(word: str) -> bool:
    """A street type written before the name (``rue``, ``jalan``, ``montée``, ``carrera``)."""
    return word in STREET_PREFIXES or fold(word) in TYPES_BEFORE


def _prefixed_name_end(tokens: list[Token], j: int, *, after_number: bool = False) -> int:
    """Index of the last name word after the street prefix at j (j itself if there is none).
    Initials and linking words (``de``, ``das``) count only with a name word after them; after a
    prefix that is also an English word (``gang``, ``via``, ``route``) the first name word must be
    no common English word, or, after a house number, a given name or surname (``1510 avenue
    martin``)."""
    lex = lexicon()
    prefix = tokens[j].norm
    if j + 1 < len(tokens) and (prefix in WORD_PREFIXES or fold(prefix) in WEAK_TYPES_BEFORE):
        first = tokens[j + 1].norm
        listed = first in lex.first_names or first in lex.surnames
        named = after_number and listed and first not in NAME_LIKE_EXCLUDED
        if (lex.is_common(first) and not named) or first in NUMBER_WORDS or first in STOP_WORDS:
            return j
    last = j
    k = j + 1
    while k < len(tokens) and k - j <= PREFIXED_NAME_MAX_WORDS:
        word = tokens[k].norm
        plain = _street_word(word) and word not in STOP_WORDS and word not in NUMBER_WORDS
        if plain and word not in STREET_NAME_LINKS and word not in HOUSE_NUMBER_WORDS:
            last = k
        elif not (word in STREET_NAME_LINKS or _initial(word)):
            break
        k += 1
    return last


def _initial(word: str) -> bool:
    """``k.h``, ``r.e``, ``a``: dotted initials or a single letter."""
    return ("." in word or len(word) == 1) and INITIAL.fullmatch(word) is not None


def _cued_prefix_street_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """``drive to rue de seguin``, ``pick me up from praça de pinto at six``: after ``to/at/
    from/for`` or ``address is``, a type-first street with no house number, closing the request or
    before a function word."""
    if i == 0 or not _prefix_type(tokens[i].norm):
        return None
    if not (tokens[i - 1].norm in BARE_CUES or _address_is(tokens, i)):
        return None
    last = _prefixed_name_end(tokens, i)
    if last == i:
        return None
    after = tokens[last + 1].norm if last + 1 < len(tokens) else ""
    return (i, last) if not after or after in STOP_WORDS else None


def _number_after_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """``jl. peta no. 75``, ``via roma 10``, ``rua augusta, 123``: a prefix of
    ``NUMBER_AFTER_PREFIXES``, name words, an optional number mark, then a written house number
    that does not count something (``calle mayor 5 minutes`` is no address)."""
    if tokens[i].norm not in NUMBER_AFTER_PREFIXES and fold(tokens[i].norm) not in TYPES_BEFORE:
        return None
    last = _prefixed_name_end(tokens, i)
    if last == i:
        return None
    k = last + 1
    if k < len(tokens) and tokens[k].norm in HOUSE_NUMBER_WORDS:
        k += 1
    if k >= len(tokens):
        return None
    if HOUSE_NUMBER.fullmatch(tokens[k].norm) and _digits(tokens[k]):
        end = k
    else:
        spoken_end = _house_number_end(tokens, k)
        if spoken_end is None or _digits(tokens[k]):
            return None
        end = spoken_end  # "via angelo, nine hundred and ninety eight"
    after = tokens[end + 1].norm if end + 1 < len(tokens) else ""
    counted = lexicon().is_common(after) and after not in STOP_WORDS and after not in UNIT_WORDS
    if after and counted:
        return None  # "calle mayor 5 minutes"; "privada sur 547 interior 063" is a flat
    return _unit_start(tokens, i), end


def _address_is(tokens: list[Token], i: int) -> bool:
    """``my address is 560 milner``: ``address is`` right before token i."""
    return i >= 2 and tokens[i - 1].norm == "is" and tokens[i - 2].norm == "address"


def _bare_street_at(tokens: list[Token], i: int, caps: bool) -> tuple[int, int] | None:
    """``drive to 49 oxford``, ``pick me up from 2924 nelson mandela at six``: after ``to/at/
    from/for`` or ``address is``, a house number and one or two words that are given names,
    surnames or places, or in no dictionary (``voortrekker``; an ordinary word, ``queen``,
    ``high``, only when capitalised in cased text and a census given name or one of its 5,000
    most frequent surnames), closing the request or before a function
    word. A lone number up to twelve is a time, one from 1950 to 2039 a year; units, currencies
    and calendar words are no street."""
    if i == 0 or not (tokens[i - 1].norm in BARE_CUES or _address_is(tokens, i)):
        return None
    number_end = _house_number_end(tokens, i)
    if number_end is None:
        return None
    word = tokens[i].norm
    lone = number_end == i and (word.isdigit() or word in _SPOKEN_SMALL)
    if lone and int(_SPOKEN_SMALL.get(word, word)) <= MAX_TIME_NUMBER:
        return None  # "text me at 5 john", "at seven thomas": a time
    if lone and word.isdigit() and YEARS[0] <= int(word) <= YEARS[1]:
        return None  # "songs from 1990 madonna": a year
    lex = lexicon()
    last = number_end
    named = False
    for k in range(number_end + 1, min(len(tokens), number_end + 1 + BARE_STREET_MAX_WORDS)):
        token = tokens[k]
        word = token.norm
        if not word.isalpha() or word in STOP_WORDS or word in NUMBER_WORDS:
            break
        listed = word in lex.first_names or word in lex.surnames or word in lex.places
        unknown = not lex.is_word(word) and len(word) > 2
        if not (listed or unknown) or word in NAME_LIKE_EXCLUDED or word in _NEVER_STREETS:
            break
        frequent = word in lex.census_first_names or lex.surnames.get(word, 10**9) <= 5_000
        if lex.is_common(word) and not (caps and token.capitalised and frequent):
            break  # "for 20 People": an ordinary word only as a capitalised frequent name
        last = k
        named = named or listed or len(word) >= MIN_UNKNOWN_STREET_CHARS
    if last == number_end or not named:
        return None
    after = tokens[last + 1].norm if last + 1 < len(tokens) else ""
    if after and after not in STOP_WORDS:
        return None
    return _unit_start(tokens, i), last


GRID_TYPES = words("calle cl carrera cra cr kr diagonal dg transversal tv tr avenida av avda")
"""Road types of Colombian grid addresses (``Calle 94 # 59Z-22 Este``, ``Cr. 11 # 35-4``): the
road's number, then after ``#`` the crossing road's number and the house's distance from it."""
GRID_MARKS = words("# no nº n° numero número bis ª -")
GRID_QUARTERS = words("sur este norte oeste")
GRID_MAX_TOKENS = 12
GRID_PART = re.compile(r"\d{1,3}[a-z]?ª?(?:-\d{1,3}[a-z]?)?")


def _grid_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """``calle 94 # 59z-22 este``, ``cl nine a ninety one p fifty four este``, ``avenida carrera
    7ª # 9-8 sur``: a grid road type, then at least two numbers (written or spoken) with the
    letters, ``bis``, ``ª`` and ``#`` between them, and maybe a quarter (``sur``, ``este``);
    closing the request or before a function word; else None."""
    if fold(tokens[i].norm) not in GRID_TYPES:
        return None
    k = i + 1
    if k < len(tokens) and tokens[i].norm in ("avenida", "av") and tokens[k].norm in GRID_TYPES:
        k += 1  # "avenida carrera 7ª"
    numbers, last = 0, None
    while k < len(tokens) and k - i <= GRID_MAX_TOKENS:
        word = tokens[k].norm
        if GRID_PART.fullmatch(word):
            numbers, last = numbers + 1 + word.count("-"), k
        elif word in NUMBER_WORDS:
            end = _house_number_end(tokens, k)
            if end is None:
                break
            numbers, last, k = numbers + 1, end, end
        elif not ((len(word) == 1 and word.isalpha() and last is not None) or word in GRID_MARKS):
            break
        k += 1
    if last is None or numbers < 2 or tokens[i + 1].norm in GRID_MARKS:
        return None
    k = last + 1
    while k < len(tokens) and len(tokens[k].norm) == 1 and tokens[k].norm.isalpha():
        k += 1
    if k < len(tokens) and tokens[k].norm in GRID_QUARTERS:
        last = k
    after = tokens[last + 1].norm if last + 1 < len(tokens) else ""
    if after and after not in STOP_WORDS and after not in UNIT_WORDS:
        return None
    return i, last


ROMAN_NUMERALS = words("i ii iii iv v vi vii viii ix x")
"""``Do Zahrádek II 1``: a numbered street name."""
NAME_THEN_NUMBER_MAX_WORDS = 3
MIN_NAME_THEN_NUMBER_CHARS = 5


def _name_then_number_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """``navigate to husova 7``, ``deliver it to nad obcí sixty seven``, ``how far is palackého
    forty eight``: a street name with no type, then its house number, as Czech, Slovak, Croatian
    and Slovene addresses are written. One to three words in no English dictionary, no number,
    no given name, no place, no state, with five letters or more in all (``to bbc 1``, ``to fifa
    21`` are no street; ``to parramatta nsw 2150`` is a town and a postcode), maybe opened by a Slavic preposition (``na``, ``nad``, ``pod``, ``u``, ``za``) or
    closed by a Roman numeral; then a written or spoken house number (not a year) that closes the
    request or comes before a function word. Either after ``to/at/from/for`` or ``address is``,
    or with no cue when the name is a preposition phrase or its last word has the ending of a
    Slavic adjective (``-ova``, ``-ská``, ``-ého``, ``-eva``, ``-ica``); else None."""
    cued = i > 0 and (tokens[i - 1].norm in BARE_CUES or _address_is(tokens, i))
    j = i
    phrase = fold(tokens[i].norm) in SLAVIC_PREPOSITIONS
    if phrase:
        j += 1
    lex = lexicon()
    last, letters = j - 1, 0
    while last + 1 < len(tokens) and last + 1 - j < NAME_THEN_NUMBER_MAX_WORDS:
        word = tokens[last + 1].norm
        plain = fold(word)
        if not _street_word(word) or word in STOP_WORDS or word in NUMBER_WORDS:
            break
        if lex.is_word(word) or lex.is_word(plain) or word in ROMAN_NUMERALS:
            break
        if word in AU_STATE_CODES or word.upper() in US_STATE_CODES or word in US_STATES:
            return None  # "to parramatta nsw 2150": a town, a state and its postcode
        if word in lex.census_first_names or word in lex.places or word in _NEVER_STREETS:
            return None
        last += 1
        letters += len(word)
    if phrase:
        letters += len(tokens[i].norm)
    if last < j or letters < MIN_NAME_THEN_NUMBER_CHARS:
        return None
    adjective = fold(tokens[last].norm).endswith(ADJECTIVE_ENDINGS)
    if not (cued or phrase or adjective):
        return None
    k = last + 1
    if k < len(tokens) and tokens[k].norm in ROMAN_NUMERALS and tokens[k].capitalised:
        k += 1
    if k >= len(tokens):
        return None
    if HOUSE_NUMBER.fullmatch(tokens[k].norm) and _digits(tokens[k]):
        if tokens[k].norm.isdigit() and YEARS[0] <= int(tokens[k].norm) <= YEARS[1]:
            return None
        end = k
    else:
        number_end = _house_number_end(tokens, k)
        if number_end is None:
            return None
        end = number_end
    end = _house_number_tail(tokens, end)
    after = tokens[end + 1].norm if end + 1 < len(tokens) else ""
    if after and after not in STOP_WORDS and after not in UNIT_WORDS:
        return None
    return i, end


_SPOKEN_SMALL = {
    **{
        w: str(n) for n, w in enumerate("zero one two three four five six seven eight nine".split())
    },
    **{w: str(n + 10) for n, w in enumerate("ten eleven twelve".split())},
}
_NEVER_STREETS = (
    words("alexa siri olly cortana echo google")
    | words(
        """
        celsius centigrade fahrenheit kelvin kmph mph kph bpm rpm fps dpi mbps kbps gbps hz khz
        mhz ghz lumens decibels watts volts amps kcal calories pesos rupees rupiah euros yen yuan
        dirhams baht ringgit rand naira shillings cedis kwacha
        """
    )
    | MONTHS
    | WEEKDAYS
    | HOLIDAYS
)
"""Assistant names, units, currencies and calendar words: ``turn it to 5 alexa``, ``set the
heating to 21 celsius``, ``a reminder for 15 May`` are no street."""
YEARS = (1950, 2039)
"""A lone four-digit number in this range after ``from/to/for`` is read as a year."""


def _capitals_informative(tokens: list[Token]) -> bool:
    """True if some but not most words are capitalised (cased, punctuated text)."""
    alphabetic = [t for t in tokens if t.text[:1].isalpha()]
    capitalised = sum(1 for t in alphabetic if t.capitalised)
    return 0 < capitalised <= CAPITALISED_SHARE * len(alphabetic)


CAPITALISED_SHARE = 0.6


def _house_number_end(tokens: list[Token], i: int) -> int | None:
    """Last token index of a written or spoken house number at i, or None."""
    if HOUSE_NUMBER.fullmatch(tokens[i].norm):
        return i
    j = i
    limit = min(len(tokens), i + HOUSE_NUMBER_MAX_WORDS)
    while j < limit and (is_spoken_number(tokens, j) or _joining_and(tokens, j, i)):
        j += 1
    return j - 1 if j > i else None


def _joining_and(tokens: list[Token], j: int, i: int) -> bool:
    """``and`` inside ``one hundred and twelve``."""
    return j > i and tokens[j].norm == "and" and tokens[j - 1].norm in ("hundred", "thousand")


def _street_end(tokens: list[Token], j: int) -> int | None:
    """Last token index of ``name words + street type`` starting at j, or None."""
    for k in range(j, min(len(tokens), j + STREET_NAME_MAX_WORDS + 1)):
        word = tokens[k].norm
        if _joined_street(word):
            while k + 1 < len(tokens) and (
                _street_type(tokens[k + 1].norm) or tokens[k + 1].norm in LOCAL_STREET_TYPES
            ):
                k += 1  # "kumarnagar square", "hossaindanga moor"
            return k
        if k > j and word in WEAK_STREET_TYPES and _weak_type_street(tokens, j, k):
            return k
        if k > j and word in LOCAL_STREET_TYPES and _local_type_street(tokens, j, k):
            return k
        if k > j and _street_type(word):
            while k + 1 < len(tokens) and _street_type(tokens[k + 1].norm):
                k += 1  # "ocean view terrace", "park lane": the last of the types ends it
            return k
        if not _street_name_word(word):
            return None
    return None


def _weak_type_street(tokens: list[Token], j: int, k: int) -> bool:
    """True if tokens j..k-1 are given names or surnames and the weak road type at k closes the
    request or comes before a function word (see ``WEAK_STREET_TYPES``)."""
    lex = lexicon()
    for token in tokens[j:k]:
        word = token.stem
        if word in STOP_WORDS or word in NAME_LIKE_EXCLUDED or not word.isalpha():
            return False
        if word not in lex.first_names and word not in lex.surnames:
            return False
        if lex.is_common(word) and not token.capitalised:
            return False  # "for 7 mark end": a word-name only when written as a name
    return k + 1 == len(tokens) or tokens[k + 1].norm in STOP_WORDS


def _joined_street(word: str) -> bool:
    """``nandiroad``, ``kaliachar``: a word in no dictionary that ends in a road or locality word
    (``JOINED_STREET_TYPES``) after a name part of at least three letters."""
    if not word.isalpha() or not word.endswith(JOINED_STREET_TYPES):
        return False
    kind = next(t for t in JOINED_STREET_TYPES if word.endswith(t))
    if len(word) - len(kind) < MIN_JOINED_HEAD_CHARS:
        return False
    return not lexicon().is_word(word)


def _local_type_street(tokens: list[Token], j: int, k: int) -> bool:
    """True if the name words j..k-1 before a Bengali road or locality word include one and are
    otherwise only qualifiers (``north``, ``new``), with none a common English word."""
    lex = lexicon()
    named = [t.norm for t in tokens[j:k] if t.norm not in STREET_NAME_QUALIFIERS]
    return bool(named) and not any(lex.is_common(w) for w in named)


def _street_type(word: str) -> bool:
    """True for a road type (``street``, ``pde``, ``marg``) or a USPS street suffix."""
    return word in STREET_TYPES or word in street_types()


def _street_name_word(word: str) -> bool:
    """A word that can stand in a street name: not a function word or a number, except the few
    that open street names (``new``, ``old``) and ordinals (``5th``)."""
    if word in STREET_NAME_ADJECTIVES or ORDINAL.fullmatch(word):
        return True
    return _street_word(word) and word not in STOP_WORDS and word not in NUMBER_WORDS


def _street_word(word: str) -> bool:
    """Letters, with inner apostrophes or hyphens (``o'connell``, ``christie-hamilton``)."""
    return word.replace("'", "").replace("-", "").isalpha()


def _unit_start(tokens: list[Token], i: int) -> int:
    """Index of a ``flat 3`` / ``Apartment 5B`` / ``unit no 4`` / ``flat seven`` prefix before
    the house number, else i."""
    if i < 1:
        return i
    if tokens[i - 1].norm in UNIT_WORDS or tokens[i - 1].norm in HOUSE_NUMBER_MARKS:
        return i - 1  # "flat seven twenty two ...": a spoken unit number ran into the house number
    if i < 2:
        return i
    number = tokens[i - 1].norm
    if not (UNIT_NUMBER.fullmatch(number) or number in NUMBER_WORDS):
        return i
    if tokens[i - 2].norm in UNIT_WORDS:
        return i - 2
    if i >= 3 and tokens[i - 2].norm in NUMBER_MARKS and tokens[i - 3].norm in UNIT_WORDS:
        return i - 3
    return i
