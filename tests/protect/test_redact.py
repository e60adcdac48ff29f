"""PII redaction: every entity written and spoken, no-PII requests untouched, idempotence,
hostile input, and the accuracy goals on the labelled request set."""

from __future__ import annotations

import gc
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overheard.protect.redact import ENTITIES, Span, find_pii, merge, redact

SET_PATH = Path(__file__).with_name("redaction_set.jsonl")
HOSTILE_CHARS = 100_000
HOSTILE_LIMIT_S = 3.0
"""A bound far above any linear pass (0.4–0.8 s of CPU for 100 kB), far below a quadratic one."""
HOSTILE_GROWTH = 8.0
"""Most CPU a text four times as long may take, as a multiple of the shorter one's."""
RECALL_GOALS = {"PHONE": 0.95, "EMAIL": 0.95, "CARD": 0.95, "NAME": 0.85}
MAX_OVER_REDACTION = 0.05
"""Share of PII-free requests in the set that may have anything redacted."""

WRITTEN = [
    ("Call my sister Jenny on 07700 900123.", "Call my sister [NAME] on [PHONE]."),
    ("ring +44 20 7946 0958 now", "ring [PHONE] now"),
    ("Dial (201) 555-0123", "Dial ([PHONE]"),
    ("my email is john.smith@example.com", "my email is [EMAIL]"),
    ("pay with 4111 1111 1111 1111", "pay with [CARD]"),
    ("my card number is 5105-1051-0510-5100", "my card number is [CARD]"),
    ("my iban is GB82 WEST 1234 5698 7654 32", "my iban is [IBAN]"),
    ("account number 31926819 sort code 60-16-13", "account number [ACCOUNT] sort code [ACCOUNT]"),
    ("my postcode is SW1A 1AA", "my postcode is [POSTCODE]"),
    ("I live in Austin, TX 78701", "I live in Austin, TX [POSTCODE]"),
    ("I live at 12 Baker Street", "I live at [ADDRESS]"),
    ("send it to Apartment 5B, 200 Main Street", "send it to [ADDRESS]"),
    ("my date of birth is 12/05/1990", "my date of birth is [DOB]"),
    ("I was born on 7 July 1988", "I was born on [DOB]"),
    ("set up a meeting with James Wilson on Friday", "set up a meeting with [NAME] on Friday"),
    ("Mrs Thompson called", "Mrs [NAME] called"),
    ("call 07700 900123 12 baker street", "call [PHONE] [ADDRESS]"),
]
SPOKEN = [
    ("call oh seven seven double oh nine hundred one two three", "call [PHONE]"),
    ("dial plus four four seven seven double oh nine hundred seven eight nine", "dial [PHONE]"),
    ("call two oh one five five five oh one two three", "call [PHONE]"),
    ("my email is john at example dot com", "my email is [EMAIL]"),
    ("send it to jenny dot wilson at gmail dot co dot uk", "send it to [EMAIL]"),
    ("email priya underscore k at outlook dot com the photos", "email [EMAIL] the photos"),
    (
        "my card is four one one one one one one one one one one one one one one one",
        "my card is [CARD]",
    ),
    (
        "my account number is four three two one eight seven six five",
        "my account number is [ACCOUNT]",
    ),
    ("my post code is s w one a one a a", "my post code is [POSTCODE]"),
    ("the zip code is nine oh two one oh", "the zip code is [POSTCODE]"),
    ("i live at twenty two acacia avenue", "i live at [ADDRESS]"),
    ("navigate to one hundred and twelve mill road", "navigate to [ADDRESS]"),
    ("i was born on the fifth of may nineteen eighty five", "i was born on [DOB]"),
    ("my birthday's august the eleventh", "my birthday's [DOB]"),
    ("call will when i get home", "call [NAME] when i get home"),
    ("message rose happy birthday", "message [NAME] happy birthday"),
    ("call my friend joy", "call my friend [NAME]"),
    ("text paul smith i'm outside", "text [NAME] i'm outside"),
    ("remind me about lily's recital", "remind me about [NAME]'s recital"),
]
NO_PII = [
    "play some jazz",
    "set a timer for ten minutes",
    "will it rain tomorrow",
    "mark the date",
    "may i have the news",
    "bill me later",
    "joy to the world",
    "play rose garden",
    "will you marry me",
    "what's the weather in paris",
    "directions to charlotte",
    "call an ambulance",
    "call nine nine nine",
    "set the oven to 180 degrees",
    "what is the square root of one hundred and forty four",
    "how far is it to the high street",
    "set an alarm for seven thirty",
    "is it may the fourth",
]


@pytest.mark.parametrize(("text", "expected"), WRITTEN)
def test_written_forms(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(("text", "expected"), SPOKEN)
def test_spoken_forms(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", NO_PII)
def test_requests_without_pii_are_unchanged(text: str) -> None:
    assert redact(text) == text
    assert find_pii(text) == []


def test_spans_are_offsets_into_the_input() -> None:
    text = "call jenny on 07700 900123"
    assert find_pii(text) == [Span(5, 10, "NAME"), Span(14, 26, "PHONE")]


def test_luhn_and_mod97_checks_decide_the_entity() -> None:
    assert [s.entity for s in find_pii("ref 4111 1111 1111 1112")] != ["CARD"]
    assert "IBAN" not in {s.entity for s in find_pii("GB82 WEST 1234 5698 7654 33")}


def test_overlapping_spans_merge_into_the_longest_entity() -> None:
    spans = [Span(0, 5, "NAME"), Span(3, 20, "EMAIL"), Span(25, 30, "PHONE")]
    assert merge(spans) == [Span(0, 20, "EMAIL"), Span(25, 30, "PHONE")]


def test_placeholders_are_never_redacted_again() -> None:
    text = "call [NAME] on [PHONE] or mail [EMAIL] at [ADDRESS] [POSTCODE]"
    assert redact(text) == text


def test_redaction_is_idempotent_on_the_labelled_set() -> None:
    for example in _load_set():
        once = redact(example["text"])
        assert redact(once) == once, example["text"]


WORDS = st.sampled_from(
    "call my sister jenny on oh seven double nine hundred at dot com 4111 1111 07700 900123 born "
    "the fifth of may 12 baker street sw1a 1aa will mark account card [NAME] Paul Smith , . ( )".split()
)


@settings(max_examples=200, deadline=None)
@given(st.lists(WORDS, max_size=30).map(" ".join))
def test_redaction_is_idempotent_on_word_salad(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


def test_markup_is_returned_as_text() -> None:
    text = '<script>alert("call jenny on 07700 900123")</script><b>hi</b>'
    assert redact(text) == '<script>alert("call [NAME] on [PHONE]")</script><b>hi</b>'


HOSTILE = {
    "one long word": "a" * HOSTILE_CHARS,
    "one long number": "1" * HOSTILE_CHARS,
    "spaced digits": "1 " * (HOSTILE_CHARS // 2),
    "spoken digits": "one " * (HOSTILE_CHARS // 4),
    "spoken e-mail fragments": "at a dot " * (HOSTILE_CHARS // 9),
    "e-mail lookalike": ("x" * 60 + "@") * (HOSTILE_CHARS // 61),
    "names": "call jenny smith " * (HOSTILE_CHARS // 17),
    "birth dates": "born one " * (HOSTILE_CHARS // 9),
    "postcode spelling": "post code s w one a " * (HOSTILE_CHARS // 20),
    "iban heads": "gb82 " * (HOSTILE_CHARS // 5),
    "unclosed placeholder": "[NAME" * (HOSTILE_CHARS // 5),
    "markup": "<p onclick='x'>07700 900123</p>" * (HOSTILE_CHARS // 31),
    "handing verbs and links": "show news from bbc for " * (HOSTILE_CHARS // 23),
    "places and cues": "text sofia about new york city " * (HOSTILE_CHARS // 31),
    "streets": "i live on 6/170 christie-hamilton crossing " * (HOSTILE_CHARS // 43),
    "run-together words": "call goodnightly " * (HOSTILE_CHARS // 17),
    "endless name list": "email anna, " * (HOSTILE_CHARS // 12),
    "names joined by and": "kwame and " * (HOSTILE_CHARS // 10),
    "titles": "principal dr mrs " * (HOSTILE_CHARS // 17),
    "eircode lookalikes": "d02 x285 " * (HOSTILE_CHARS // 9),
    "units and ordinals": "unit no 5 21st new " * (HOSTILE_CHARS // 19),
    "name particles and hyphens": "call ahmed bin van de ji-woo " * (HOSTILE_CHARS // 29),
    "malay and joined streets": "8v-09 jalan 4/32c kaliachar moor " * (HOSTILE_CHARS // 33),
    "bare streets after cues": "to 49 oxford to 560 nelson " * (HOSTILE_CHARS // 27),
    "type-first streets": "jl. k.h. a. de no. 7 rt 02/rw 05 " * (HOSTILE_CHARS // 33),
    "separate types": "berliner straße goethe weg 4 " * (HOSTILE_CHARS // 29),
    "pinyin names": "xiaoming meilin yuxuan " * (HOSTILE_CHARS // 23),
    "type-first streets after cues": "to rue de la via " * (HOSTILE_CHARS // 17),
    "flats after flats": "calle a 5 edif 2 depto 3 piano 4 " * (HOSTILE_CHARS // 33),
    "streets of many languages": "to na husova egils allé katu gade 9 a b " * (HOSTILE_CHARS // 41),
    "grid addresses": "calle 5 # a bis 3 cl nine a " * (HOSTILE_CHARS // 28),
    "letters among digits": "o7700x9Ol5s " * (HOSTILE_CHARS // 12),
    "one lettered word": "1x" * (HOSTILE_CHARS // 2) + "ab",
    "letters between groups": "07700 x " * (HOSTILE_CHARS // 8),
    "look-alike letters": "ꓣꓳꓐꓰꓣꓔ jօհn ᏗᎪᏙIᎠ " * (HOSTILE_CHARS // 20),
}


def _redaction_cpu_s(text: str) -> float:
    # This thread's CPU time, with the collector paused: other processes and threads, and sweeps of
    # the heap earlier tests left behind, do not count; the redaction itself does.
    gc.collect()
    gc.disable()
    try:
        started = time.thread_time()
        redact(text)
        return time.thread_time() - started
    finally:
        gc.enable()


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_redacts_in_linear_time(text: str) -> None:
    redact("warm the lexicon")
    quarter = _redaction_cpu_s(text[: len(text) // 4])
    whole = _redaction_cpu_s(text)
    # Four times the text: about four times the work when linear, sixteen when quadratic.
    assert whole < HOSTILE_GROWTH * quarter + 0.05, (quarter, whole)
    assert whole < HOSTILE_LIMIT_S


def test_labelled_set_meets_the_goals() -> None:
    examples = _load_set()
    found, gold = Counter(), Counter()
    clean = redacted_clean = 0
    for example in examples:
        predicted = find_pii(example["text"])
        for start, end, entity in example["spans"]:
            gold[entity] += 1
            found[entity] += any(_matches(Span(start, end, entity), p) for p in predicted)
        if not example["spans"]:
            clean += 1
            redacted_clean += bool(predicted)
    recall = {e: found[e] / gold[e] for e in ENTITIES if gold[e]}
    assert len(examples) >= 300
    assert clean >= 100
    for entity, goal in RECALL_GOALS.items():
        assert recall[entity] >= goal, (entity, recall[entity])
    assert redacted_clean / clean <= MAX_OVER_REDACTION


def _matches(gold: Span, pred: Span) -> bool:
    """Same entity and overlap of at least half the longer span (the benchmark's rule)."""
    overlap = min(gold.end, pred.end) - max(gold.start, pred.start)
    longer = max(gold.end - gold.start, pred.end - pred.start)
    return gold.entity == pred.entity and overlap >= 0.5 * longer


def _load_set() -> list[dict]:
    """The labelled requests."""
    return [json.loads(line) for line in SET_PATH.read_text(encoding="utf-8").splitlines()]


WORLD_SET_PATH = Path(__file__).with_name("redaction_world_set.jsonl")
WORLD_GOALS = {"NAME": 0.90, "ADDRESS": 0.90}
"""Recall goals on the held-out split of the world set (phrasings and names never tuned on)."""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("maria maria.lopez@example.com", "[NAME] [EMAIL]"),
        ("send maria an email", "send [NAME] an email"),
        ("call katarzyna tonight", "call [NAME] tonight"),
        ("what time is haoran's flight", "what time is [NAME]'s flight"),
        ("did oluwaseun send me anything", "did [NAME] send me anything"),
        ("alexa call kwame", "alexa call [NAME]"),
        ("my iban is GB82 WEST 1234 5698 7654 32", "my iban is [IBAN]"),
        ("navigate to hauptstrasse 5", "navigate to [ADDRESS]"),
        ("deliver it to 27 rue de rivoli please", "deliver it to [ADDRESS] please"),
        ("pick me up from 2 station approach", "pick me up from [ADDRESS]"),
        ("send 5 via email", "send 5 via email"),
        ("how many miles is it to los angeles", "how many miles is it to los angeles"),
        ("what's the weather in miami florida", "what's the weather in miami florida"),
        ("siri what time is it", "siri what time is it"),
    ],
)
def test_world_names_addresses_and_cues(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_world_set_heldout_meets_the_goals() -> None:
    rows = [json.loads(line) for line in WORLD_SET_PATH.read_text(encoding="utf-8").splitlines()]
    heldout = [r for r in rows if r["split"] == "heldout"]
    found, gold = Counter(), Counter()
    for row in heldout:
        predicted = find_pii(row["text"])
        for start, end, entity in row["spans"]:
            gold[entity] += 1
            found[entity] += any(_matches(Span(start, end, entity), p) for p in predicted)
    assert len(heldout) >= 70
    for entity, goal in WORLD_GOALS.items():
        assert found[entity] / gold[entity] >= goal, (entity, found[entity], gold[entity])
