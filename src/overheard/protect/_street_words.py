"""Street types of many European (and a few other) languages, written from their addressing
conventions, and the accent folding that lets a recogniser's spelling (``straede``, ``kucesi``)
meet the written one (``stræde``, ``küçəsi``)."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from overheard.protect._lexicon import words

_FOLDED = str.maketrans({"ß": "ss", "ø": "o", "æ": "ae", "đ": "d", "ł": "l", "ı": "i", "ð": "d"})


@lru_cache(maxsize=4096)
def fold(word: str) -> str:
    """The word without accents (``straße`` → ``strasse``, ``küçəsi`` → ``kucesi``), as an
    English recogniser writes foreign words; ``ə`` is read as ``e``."""
    word = word.translate(_FOLDED).replace("ə", "e")
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


TYPES_AFTER = words(
    """
    alle allee gade vej vaenge straede torv plads gata gatan vag vagen gränd grand torg
    gate gaten vei veien veg vegen sti stien plass plassen
    katu tie kuja polku bulevardi kaari rinne raitti puistotie puistokatu tori aukio
    utca ut korut ter fasor koz sor setany rakpart
    ulica ulice cesta trieda namestie nabrezie trg vijenac naselje setaliste prilaz odvojak
    put pot
    strasse str gasse weg platz ring damm ufer chaussee steig pfad zeile
    straat laan steenweg dreef plein lei kaai gracht kade singel pad steeg
    kucesi kuc prospekti dongesi shossesi sokak sokagi caddesi cadde bulvari
    """
)
"""A street type written as its own word after the street's name and before the house number,
in its accent-free form: Danish (``allé``, ``gade``, ``vej``, ``stræde``, ``plads``), Swedish
(``gatan``, ``vägen``, ``gränd``, ``torg``), Norwegian (``gate``, ``vei``, ``veien``, ``veg``,
``sti``, ``plass``), Finnish (``katu``, ``tie``, ``kuja``, ``polku``, ``bulevardi``, ``kaari``,
``rinne``, ``raitti``, ``tori``, ``aukio``), Hungarian (``utca``, ``út``, ``körút``, ``tér``,
``fasor``, ``köz``, ``sor``, ``sétány``, ``rakpart``), Slavic (``ulica``, ``ulice``, ``cesta``,
``trieda``, ``námestie``, ``nábrežie``, ``trg``, ``vijenac``, ``naselje``, ``šetalište``,
``prilaz``, ``odvojak``, ``put``, ``pot``), German (``straße``, ``gasse``, ``weg``, ``platz``,
``ring``, ``damm``, ``ufer``, ``zeile``), Dutch and Flemish (``straat``, ``laan``,
``steenweg``, ``dreef``, ``plein``, ``lei``, ``kaai``, ``gracht``, ``kade``, ``singel``,
``pad``, ``steeg``), Azerbaijani and Turkish (``küçəsi``, ``prospekti``, ``döngəsi``,
``şossesi``, ``sokak``, ``caddesi``, ``bulvarı``)."""
WEAK_TYPES_AFTER = words("ring tie put pot sor lei pad gate kade ter str sti vei ut torv koz")
"""Types that are English words or short fragments (``give me a ring``, ``tie``, ``put``): a
street type only after name words that are no common English word, or written capitalised."""
JOINED_SUFFIXES = (
    "gade",
    "vej",
    "straede",
    "vaenget",
    "plads",
    "gatan",
    "vagen",
    "gata",
    "gaten",
    "veien",
    "vegen",
    "stien",
    "plassen",
    "katu",
    "tie",
    "kuja",
    "polku",
    "bulevardi",
    "kaari",
    "rinne",
    "raitti",
    "utca",
    "ulica",
    "cesta",
    "strasse",
    "str",
    "gasse",
    "weg",
    "platz",
    "allee",
    "damm",
    "ufer",
    "chaussee",
    "steig",
    "pfad",
    "ring",
    "straat",
    "laan",
    "steenweg",
    "dreef",
    "plein",
    "gracht",
    "kade",
    "singel",
    "steeg",
)
"""Types written joined to the name (``Tonemestergade``, ``Elimäentie``, ``Storgata``,
``Bahnhofstrasse``, ``Kerkstraat``), accent-free; the whole word must be in no dictionary."""
MIN_JOINED_NAME_CHARS = 3
TYPES_BEFORE = words(
    """
    route rang montee cote chemin rue avenue boulevard chaussee dreve place quai
    nabrezi namesti nam trida ulice
    pasaje calle carrera cra kr cl dg diagonal transversal tv avenida av avda
    """
)
"""Street types written before the name, accent-free, beyond ``_places.STREET_PREFIXES``:
Canadian French (``route``, ``rang``, ``montée``, ``côte``), Belgian and Swiss French
(``chaussée``, ``drève``, ``place``), Czech (``nábřeží``, ``náměstí``, ``třída``), and the
road types of Colombian, Argentine and Chilean addresses (``pasaje``, ``carrera``, ``cl.``,
``cra.``, ``dg.``, ``transversal``)."""
WEAK_TYPES_BEFORE = words("route rang cote place nam cl tv av dg kr cra")
"""Types before the name that are English words or abbreviations (``a route``, ``place``): a
street type only before a name word that is no common English word, or a listed name after a
house number (``1510 avenue martin``)."""
SLAVIC_PREPOSITIONS = words("na nad pod u za do pri pred ob k v")
"""Czech, Slovak, Croatian and Slovene street names that are a place phrase with no type (``Na
Příkopě``, ``Pod Kaštany``, ``U Nemocnice``, ``Za Mostem``): the preposition opens the name."""
ADJECTIVE_ENDINGS = ("ova", "ovo", "eva", "evo", "ska", "sko", "cka", "eho", "ina", "ica")
"""Endings of the Czech, Slovak, Croatian and Slovene adjectives that are street names with no
type (``Husova``, ``Palackého``, ``Jiráskova``, ``Cankarjeva``, ``Ilica``), accent-free."""
