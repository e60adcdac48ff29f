"""Number-shaped PII (phone, card, account, US ZIP, IBAN) and e-mail addresses, written or spoken."""

from __future__ import annotations

import re
from collections.abc import Iterator

from overheard.protect._lexicon import STOP_WORDS, words
from overheard.protect._numbers import (
    SEPARATED_MIN_DIGITS,
    DigitRun,
    digit_runs,
    is_spoken_number,
)
from overheard.protect._tokens import Token

Found = tuple[int, int, str]
"""A character span and its entity name."""

CONTEXT_WINDOW_TOKENS = 4
"""How many words before a number are read for its context (``my card number is``)."""
CARD_DIGITS = range(12, 20)
PHONE_DIGITS = range(7, 16)
ACCOUNT_MIN_DIGITS = 4
UNLABELLED_ID_MIN_DIGITS = 8
"""A bare number this long with no other reading is still treated as an identifier."""
CARD_WORDS = words("card visa mastercard amex maestro credit debit")
ACCOUNT_WORDS = words("account acct sort routing membership member customer policy reference ref")
PHONE_WORDS = words(
    "call ring phone dial text number mobile landline whatsapp contact contacts cell telephone "
    "fax tel sms"
)
DOB_WORDS = words("born birth birthday dob")
ZIP_WORDS = words("zip zipcode postal")
POSTCODE_WORDS = ZIP_WORDS | words("postcode pincode eircode")
POSTCODE_PAIRS = (frozenset({"post", "code"}), frozenset({"pin", "code"}))
"""``post code``, ``pin code`` (India's postal index number), said as two words."""
SHORT_POSTCODE_DIGITS = (4, 5, 6, 7)
"""Australia, New Zealand, the Philippines (4); Malaysia, Indonesia, Germany, France (5); India,
Singapore, China (6); Japan (7): only after a postcode word, or 4 digits after an Australian state
code."""
AU_STATE_CODES = words("nsw vic qld wa sa tas act nt NSW VIC QLD WA SA TAS ACT NT")
US_STATES = words(
    """
    alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii
    idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan
    minnesota mississippi missouri montana nebraska nevada ohio oklahoma oregon pennsylvania
    tennessee texas utah vermont virginia washington wisconsin wyoming
    """
)
US_STATE_CODES = words(
    """
    AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY
    NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC
    """
)
EMAIL_MAX_CHARS = 254
WRITTEN_EMAIL = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
WRITTEN_DOMAIN = re.compile(r"[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
TOP_LEVEL_DOMAINS = words(
    """
    com org net edu gov mil int io co uk us ca au nz ie de fr es it nl be ch at se no dk fi pl pt
    in jp cn me dev app info biz ac eu tv ly ai
    """
)
SPOKEN_EMAIL_MAX_PARTS = 8
"""Most words read for a spoken local part or domain (``john dot smith``; ``co dot uk``)."""
EMAIL_JOINERS = {"dot": ".", "underscore": "_", "dash": "-", "hyphen": "-", "plus": "+"}
IBAN_MIN_CHARS, IBAN_MAX_CHARS = 15, 34
IBAN_HEAD = re.compile(r"[a-z]{2}\d{2}[a-z0-9]{0,30}")
IBAN_GROUP = re.compile(r"[a-z0-9]{1,30}")
ALNUM_ID = re.compile(r"[a-z]{0,4}-?\d[\d-]{4,30}")


def find_numbers(text: str, tokens: list[Token], taken: set[int]) -> Iterator[Found]:
    """Phone, card, account and ZIP numbers in ``text``; tokens in ``taken`` belong to another
    entity. A number joined across unusual separators (``07700/900123``) or letters
    (``o7700x900123``) that is none of them is read again without them."""
    for first in digit_runs(tokens, blocked=taken, text=text):
        found = _classified(tokens, first)
        if found is None and first.separated and first.last > first.first:
            # ``flat 2 07700x900123``: the number after the word the run began with, read alone
            span = (first.first + 1, first.last + 1)
            rest = (_classified(tokens, r) for r in digit_runs(tokens, taken, text, span))
            yield from (f for f in rest if f is not None)
        elif found is not None:
            yield found


def _classified(tokens: list[Token], first: DigitRun) -> Found | None:
    """The first reading of a run (itself, then its fallbacks) that is PII, as a span."""
    context = _context_words(tokens, first.first)
    prev = _prev_text(tokens, first.first)
    run: DigitRun | None = first
    while run is not None:
        entity = classify(run, context, prev)
        if entity is not None:
            return tokens[run.first].start, tokens[run.last].end, entity
        run = run.fallback
    return None


def _context_words(tokens: list[Token], i: int) -> set[str]:
    """The lowercase words just before token i, without a possessive (``number's`` -> ``number``)."""
    return {t.stem for t in tokens[max(0, i - CONTEXT_WINDOW_TOKENS) : i]}


def _prev_text(tokens: list[Token], i: int) -> str:
    """The previous token as written, or ''."""
    return tokens[i - 1].text if i > 0 else ""


def classify(run: DigitRun, context: set[str], prev: str) -> str | None:
    """The entity a digit run stands for, given the words before it, or None."""
    n = len(run.digits)
    if context & DOB_WORDS:
        return None  # the date-of-birth recognizer owns these
    if run.separated and n < SEPARATED_MIN_DIGITS and not context & ACCOUNT_WORDS:
        return None  # ``2/3 cup``, ``flat 4/12``
    if context & CARD_WORDS and n in CARD_DIGITS:
        return "CARD"
    if context & ACCOUNT_WORDS and n >= ACCOUNT_MIN_DIGITS:
        return "ACCOUNT"
    if n in (5, 9) and (context & ZIP_WORDS or prev in US_STATE_CODES or prev.lower() in US_STATES):
        return "POSTCODE"
    postcode_said = bool(context & POSTCODE_WORDS) or any(p <= context for p in POSTCODE_PAIRS)
    if n in SHORT_POSTCODE_DIGITS and (postcode_said or (prev in AU_STATE_CODES and n == 4)):
        return "POSTCODE"
    if n in CARD_DIGITS and n >= 13 and not run.plus and luhn_valid(run.digits):
        return "CARD"
    if run.letter_joined:  # ``1920x1080``, ``600x600x1200`` are sizes
        if _phone_shaped(run) and (run.digits[0] == "0" or run.plus or context & PHONE_WORDS):
            return "PHONE"
    elif _phone_shaped(run) or (context & PHONE_WORDS and n in PHONE_DIGITS):
        return "PHONE"
    # Joined across unusual separators, length alone says nothing: ``1000/2000``, ``2024_06_01``.
    return "ACCOUNT" if n >= UNLABELLED_ID_MIN_DIGITS and not run.separated else None


def _phone_shaped(run: DigitRun) -> bool:
    """UK, NANP and international numbers recognisable without context."""
    d, n = run.digits, len(run.digits)
    if run.plus or d.startswith("00"):
        return 8 <= n <= 15
    if d.startswith("0"):
        return n in (10, 11)
    return (n == 10 and d[0] in "23456789") or (n == 11 and d[0] == "1")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def find_account_ids(tokens: list[Token]) -> Iterator[Found]:
    """Alphanumeric identifiers (``CX-4471902``) right after an account word."""
    for i, token in enumerate(tokens):
        mixed = ALNUM_ID.fullmatch(token.norm) and any(c.isalpha() for c in token.norm)
        if mixed and _context_words(tokens, i) & ACCOUNT_WORDS:
            yield token.start, token.end, "ACCOUNT"


def find_written_emails(tokens: list[Token]) -> Iterator[Found]:
    """``name@example.com`` tokens."""
    for token in tokens:
        if len(token.norm) <= EMAIL_MAX_CHARS and WRITTEN_EMAIL.fullmatch(token.norm):
            yield token.start, token.end, "EMAIL"


def find_spoken_emails(tokens: list[Token]) -> Iterator[Found]:
    """``john dot smith at example dot com``: a local part, ``at``, a domain ending in a TLD."""
    for i, token in enumerate(tokens):
        if token.norm != "at" or i == 0:
            continue
        domain_end = _domain_end(tokens, i + 1)
        local_start = _local_start(tokens, i)
        if domain_end is not None and local_start is not None:
            yield tokens[local_start].start, tokens[domain_end].end, "EMAIL"


def _domain_end(tokens: list[Token], j: int) -> int | None:
    """Index of the last token of a domain starting at j (``example dot co dot uk``), or None."""
    if j >= len(tokens):
        return None
    if WRITTEN_DOMAIN.fullmatch(tokens[j].norm):
        tld = tokens[j].norm.rsplit(".", 1)[-1]
        return j if tld in TOP_LEVEL_DOMAINS else None
    end = None
    k = j
    limit = min(len(tokens), j + 2 * SPOKEN_EMAIL_MAX_PARTS)
    while k + 2 < limit and tokens[k].norm.isalnum() and tokens[k + 1].norm == "dot":
        k += 2
        if tokens[k].norm in TOP_LEVEL_DOMAINS:
            end = k
    return end


def _local_start(tokens: list[Token], at: int) -> int | None:
    """Index of the first token of the local part before ``at``, or None."""
    k = at - 1
    if not _local_word(tokens[k]):
        return None
    floor = max(0, at - 2 * SPOKEN_EMAIL_MAX_PARTS)
    while k - 2 >= floor and tokens[k - 1].norm in EMAIL_JOINERS and _local_word(tokens[k - 2]):
        k -= 2
    while k - 1 >= floor and is_spoken_number(tokens, k) and _local_word(tokens[k - 1]):
        k -= 1
    while k - 2 >= floor and tokens[k - 1].norm in EMAIL_JOINERS and _local_word(tokens[k - 2]):
        k -= 2
    return k


def _local_word(token: Token) -> bool:
    """True for a word that can be part of a spoken local part."""
    word = token.norm
    return word.isalnum() and word not in STOP_WORDS and word not in ("email", "address", "mail")


def find_ibans(tokens: list[Token]) -> Iterator[Found]:
    """IBANs, one token or in groups of four, that pass the ISO 13616 mod-97 check."""
    i = 0
    while i < len(tokens):
        last = _iban_end(tokens, i) if IBAN_HEAD.fullmatch(tokens[i].norm) else None
        if last is None:
            i += 1
            continue
        yield tokens[i].start, tokens[last].end, "IBAN"
        i = last + 1


def _iban_end(tokens: list[Token], i: int) -> int | None:
    """Index of the last token of the longest valid IBAN starting at token i, or None."""
    groups = [tokens[i].norm]
    j = i + 1
    while j < len(tokens) and IBAN_GROUP.fullmatch(tokens[j].norm):
        if sum(map(len, groups)) + len(tokens[j].norm) > IBAN_MAX_CHARS:
            break
        groups.append(tokens[j].norm)
        j += 1
    while groups:
        candidate = "".join(groups)
        if IBAN_MIN_CHARS <= len(candidate) <= IBAN_MAX_CHARS and iban_valid(candidate):
            return i + len(groups) - 1
        groups.pop()
    return None


def iban_valid(iban: str) -> bool:
    """ISO 13616: move the first four characters to the end, read letters as 10..35, mod 97 == 1."""
    rearranged = (iban[4:] + iban[:4]).upper()
    if not rearranged.isascii() or not rearranged.isalnum():
        return False
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1
