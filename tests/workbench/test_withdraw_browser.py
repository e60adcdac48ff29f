"""The lead's adjudication page and the privacy officer's case page drop the clip and its text once
the server says it may no longer be served (the household withdrew consent to review), as the
reviewer's workbench does for a withdrawn lease (``test_browser.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from overheard.accounts.service import create_staff
from overheard.db import transaction
from overheard.households import Device
from overheard.platform import Platform
from overheard.review.consent import set_human_review
from tests._browser import CHROMIUM, CHROMIUM_ARGS, live_server
from tests.workbench.conftest import consenting_household
from tests.workbench.test_staff_browser import _enrol, _reviewed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed at /usr/bin/chromium"),
]

FAST_CHECKS = """
new MutationObserver((_, observer) => {
  const box = document.querySelector("[data-check-s]");
  if (box) { box.dataset.checkS = "1"; observer.disconnect(); }
}).observe(document, { childList: true, subtree: true });
"""
"""The page asks every second whether its clip may still be served (five by default)."""


@pytest.fixture
def staffed(tmp_path: Path) -> Iterator[tuple[Platform, Device, str, dict[str, str]]]:
    """A disagreement and an emergency report on one consenting household; enrolment links of a
    lead and a privacy officer; the running server's URL."""
    with consenting_household(tmp_path) as (plat, settings, device):
        _reviewed(plat, device)
        with transaction(plat.sessions) as s:
            enrol = {role: f"/enrol/{create_staff(s, name=f'Pat {role}', role=role)[1]}"
                     for role in ("lead", "privacy_officer")}
        with live_server(settings.data_dir, settings.database_url) as url:
            yield plat, device, url, enrol


def _withdraw(plat: Platform, device: Device) -> None:
    with transaction(plat.sessions) as s:
        set_human_review(s, device.household_id, False, actor="customer", now=datetime.now(UTC))


def _open_page(pw, url: str, enrol: str):  # type: ignore[no-untyped-def]
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    page = browser.new_page()
    page.add_init_script("localStorage.setItem('overheard.autoplay', 'off')")
    page.add_init_script(FAST_CHECKS)
    _enrol(page, url, enrol, lambda _name: None)
    return browser, page


def test_the_adjudication_page_drops_a_withdrawn_clip_and_its_text(staffed) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    plat, device, url, enrol = staffed
    with sync_playwright() as pw:
        browser, page = _open_page(pw, url, enrol["lead"])
        page.goto(f"{url}/review/lead")
        page.locator("#adjudications a").first.click()
        expect(page.locator("#player")).to_have_attribute("data-state", "ready", timeout=20_000)
        assert "jazz" in page.content()  # the second reviewer's transcript is shown
        _withdraw(plat, device)
        expect(page.locator("#player")).to_have_attribute("data-state", "withdrawn", timeout=10_000)
        expect(page.locator("#player-status")).to_contain_text("no longer open")
        expect(page.locator("#play")).to_be_disabled()
        assert page.evaluate("document.getElementById('audio').getAttribute('src')") is None
        shown = page.evaluate(
            "[...document.querySelectorAll('[data-clip-text]')].map((q) => q.textContent).join('')"
            " + document.getElementById('transcript').value"
        )
        assert shown == ""
        html = page.content()
        for said in ("play some jazz", "turn on the lights"):
            assert said not in html, html[max(0, html.find(said) - 300) : html.find(said) + 100]
        browser.close()


def test_the_case_page_drops_a_withdrawn_clip_and_its_text(staffed) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    plat, device, url, enrol = staffed
    with sync_playwright() as pw:
        browser, page = _open_page(pw, url, enrol["privacy_officer"])
        page.goto(f"{url}/privacy")
        page.locator("tr.report form[action$='/case'] button").click()
        page.wait_for_url(f"{url}/privacy/cases/**")
        assert "please help me" in page.content()
        _withdraw(plat, device)
        expect(page.locator("#case")).to_have_attribute("data-state", "withdrawn", timeout=10_000)
        expect(page.locator("#case-status")).to_contain_text("withdrew consent")
        assert page.evaluate("document.getElementById('case-audio').getAttribute('src')") is None
        shown = page.evaluate(
            "[...document.querySelectorAll('[data-clip-text]')].map((p) => p.textContent).join('')"
        )
        assert shown == ""
        assert "please help me" not in page.content()
        # The report can still be acted on: the officer records what was done.
        expect(page.locator("form[action$='/act'] button")).to_be_enabled()
        browser.close()
