"""Fields where staff type what a clip says, or notes about it, keep it out of the browser.

A browser remembers what is typed into form fields (autofill history, on the staff member's
machine) and may send it to a cloud spelling service ("enhanced spell check"). A transcript, a
comment or a privacy officer's note must go to Overheard only.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest

TEMPLATES = resources.files("overheard") / "templates"
FREE_TEXT = re.compile(
    r"<textarea\b[^>]*>|<input\b(?![^>]*type=\"hidden\")[^>]*\bname=\"(?:note|reason|comment|transcript)\"[^>]*>"
)


def _fields() -> list[tuple[str, str]]:
    found = []
    for folder in TEMPLATES.iterdir():
        if not folder.is_dir():
            continue
        for page in folder.iterdir():
            if page.name.endswith(".html"):
                found += [(f"{folder.name}/{page.name}", m.group(0)) for m in FREE_TEXT.finditer(page.read_text())]
    return found


def test_there_are_free_text_fields_to_check() -> None:
    names = {page for page, _ in _fields()}
    assert {"review/task.html", "review/adjudicate.html", "privacy/case.html", "privacy/reidentify.html"} <= names


@pytest.mark.parametrize(("page", "field"), _fields())
def test_a_free_text_field_is_neither_remembered_nor_spell_checked_by_the_browser(page: str, field: str) -> None:
    assert 'autocomplete="off"' in field and 'spellcheck="false"' in field, f"{page}: {field}"
