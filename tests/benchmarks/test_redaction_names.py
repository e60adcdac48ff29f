"""The name benchmark's secondary gold: names trimmed of the titles and relations that open them."""

from __future__ import annotations

import sys

from tests.conftest import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

import redaction_names as rn
from redaction import Example

from overheard.protect.redact import Span


def _trimmed(annotation: str) -> list[str]:
    ex, _ = rn.from_annotation(annotation, "tune")
    return [ex.text[s.start : s.end] for s in rn.titles_left_visible(ex).spans]


def test_titles_and_relations_that_open_a_name_are_left_out() -> None:
    assert _trimmed("email [person : principal lowry] now") == ["lowry"]
    assert _trimmed("how old is [person : princess kate]") == ["kate"]
    assert _trimmed("tell me the email for [person : aunt ruth]") == ["ruth"]
    assert _trimmed("call [person : dr. mary jones] please") == ["mary jones"]


def test_names_without_a_title_are_unchanged() -> None:
    assert _trimmed("call [person : john smith] now") == ["john smith"]
    assert _trimmed("text [person : my mom]") == []  # a relation alone is no name
    lone = Example("call sir", [Span(5, 8, "NAME")], "tune")
    assert rn.titles_left_visible(lone).spans == [Span(5, 8, "NAME")]  # the last word stays
