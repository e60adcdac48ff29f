"""Redaction reads, and staff are shown, text in plain form: PII written in full-width forms, in
another script's digits, split by invisible characters or behind a direction override is found."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overheard.protect import serving
from overheard.protect._plain import plain, plain_spans
from overheard.protect.redact import redact
from overheard.review import agreement
from tests.privacy._world import DOUBLE, add_clip, claim, later, sample, submit
from tests.protect._staff_text import timeline_shown

ZW = "\u200b"  # zero-width space
SHY = "\u00ad"  # soft hyphen
RLO, PDF = "\u202e", "\u202c"  # right-to-left override and its end

DISGUISED = [
    ("call ０７７００ ９００１２３", "call [PHONE]"),  # full width, as CJK input methods type it
    ("call ٠٧٧٠٠ ٩٠٠١٢٣", "call [PHONE]"),  # Arabic-Indic digits
    ("call ०७७०० ९००१२३", "call [PHONE]"),  # Devanagari digits
    (f"call 0{ZW}7{ZW}7{ZW}0{ZW}0 9{ZW}0{ZW}0{ZW}1{ZW}2{ZW}3", "call [PHONE]"),
    (f"call {RLO}321009 00770{PDF}", "call [PHONE]"),
    ("card 4111\u20111111\u20111111\u20111111", "card [CARD]"),  # non-breaking hyphens
    ("my postcode is ＳＷ１Ａ １ＡＡ", "my postcode is [POSTCODE]"),
    ("iban ＧＢ８２ ＷＥＳＴ １２３４ ５６９８ ７６５４ ３２", "iban [IBAN]"),
    (f"call John{ZW}Smith", "call [NAME]"),
    (f"call John{SHY}Smith on 07700 900123", "call [NAME] on [PHONE]"),
    ("mail john.smith＠example.com", "mail [EMAIL]"),
    ("call 0\ufe0f7\ufe0f7\ufe0f0\ufe0f0\ufe0f 900123", "call [PHONE]"),  # variation selectors
]


@pytest.mark.parametrize(("text", "expected"), DISGUISED)
def test_pii_in_unicode_disguise_is_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(("text", "expected"), DISGUISED)
def test_the_timeline_hides_it_too(text: str, expected: str) -> None:
    assert timeline_shown(text) == expected


def test_stored_names_move_onto_the_plain_text() -> None:
    # The tagger's name spans were found in the text as the recogniser wrote it.
    text = f"{ZW}{ZW}ｐｌｅａｓｅ tell zorbax now"
    start = text.index("zorbax")
    assert redact(text, names=[(start, start + len("zorbax"))]) == "please tell [NAME] now"


def test_plain_text_and_ascii_are_left_as_they_are() -> None:
    assert plain("call john on 07700 900123") == ("call john on 07700 900123", None)
    assert redact("Crème brûlée for José at the café") == "Crème brûlée for José at the café"
    assert plain_spans([(1, 3)], None) == [(1, 3)]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_plain_form_is_stable_and_offsets_fit(text: str) -> None:
    out, offsets = plain(text)
    assert plain(out)[0] == out
    if offsets is not None:
        assert len(offsets) == len(text) + 1 and offsets[-1] == len(out)
        assert offsets == sorted(offsets)
    assert redact(redact(text)) == redact(text)


def test_an_earlier_reviewers_transcript_in_disguise_is_redacted_for_the_lead(  # type: ignore[no-untyped-def]
    platform, make_household
):
    serving.install(platform)
    clip = add_clip(platform, make_household, hypothesis="ring ada lovelace")
    sample(platform, clip, DOUBLE)
    first = claim(platform, "R-a1", policy=DOUBLE)
    submit(platform, first, "R-a1", "ring ０７７００ ９００１２３", policy=DOUBLE)
    second = claim(platform, "R-b2", later(10), policy=DOUBLE)
    submit(platform, second, "R-b2", f"ring 0{ZW}7700 9{ZW}00123", now=later(20), policy=DOUBLE)
    with platform.sessions() as s:
        (item,) = agreement.adjudication_queue(s)
    text = serving.text_for_adjudication(
        platform, agreement_id=item.agreement_id, lead="R-c3", now=later(30)
    )
    assert text.earlier == ("ring [PHONE]", "ring [PHONE]")


def test_a_hypothesis_in_disguise_is_redacted_for_the_reviewer(platform, make_household):  # type: ignore[no-untyped-def]
    serving.install(platform)
    clip = add_clip(platform, make_household, hypothesis="call ０７７００ ９００１２３ now")
    sample(platform, clip)
    lease = claim(platform, "R-a1")
    text = serving.text_for_lease(platform, lease_id=lease.lease_id, staff="R-a1", now=later(1))
    assert text.hypothesis == "call [PHONE] now"
