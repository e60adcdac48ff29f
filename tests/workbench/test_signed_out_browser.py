"""In Debian Chromium against a real `overheard serve`: once a staff session ends (signed out in
another tab, the account disabled by an admin), the annotator's workbench, the lead's adjudication
page and the privacy officer's case page drop the clip and every text of it and say "signed out";
and the case page waits out a 503 while the clip's disguised rendition is made, then plays it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from overheard.accounts.service import create_staff, disable_staff
from overheard.db import transaction
from overheard.platform import Platform
from overheard.protect import rendition
from overheard.protect.serving import drop_renditions
from overheard.review.models import EmergencyReport
from tests._browser import CHROMIUM, CHROMIUM_ARGS, live_server
from tests.workbench.conftest import consenting_household
from tests.workbench.test_staff_browser import _enrol, _reviewed
from tests.workbench.test_withdraw_browser import FAST_CHECKS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed at /usr/bin/chromium"),
]

FAST_BEATS = """
new MutationObserver((_, observer) => {
  const box = document.querySelector("[data-heartbeat-s]");
  if (box) { box.dataset.heartbeatS = "1"; observer.disconnect(); }
}).observe(document, { childList: true, subtree: true });
"""
"""The workbench renews its lease every second (thirty by default)."""
SHOWN = "[...document.querySelectorAll('[data-clip-text], #words li, #earlier li')].map((e) => e.textContent).join('')"
"""Every text of the clip a page shows outside the form."""


@pytest.fixture(scope="module")
def staffed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, str]]:
    """A disagreement, an emergency report and a clip waiting for review on one consenting
    household, and the running server's URL; made once (the clips' disguise is slow): each test
    signs in staff of its own."""
    with consenting_household(tmp_path_factory.mktemp("signed_out")) as (plat, settings, device):
        _reviewed(plat, device)
        with live_server(settings.data_dir, settings.database_url) as url:
            yield plat, url


def _open(pw, plat: Platform, url: str, role: str):  # type: ignore[no-untyped-def]
    """A browser, a page signed in as a new staff member of ``role`` (a context of its own, so a
    second tab shares its session), and the member's id."""
    with transaction(plat.sessions) as s:
        staff, token = create_staff(s, name=f"Pat {role}", role=role)
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    page = browser.new_context().new_page()
    for script in ("localStorage.setItem('overheard.autoplay', 'off')", FAST_CHECKS, FAST_BEATS):
        page.add_init_script(script)
    _enrol(page, url, f"/enrol/{token}", lambda _name: None)
    return browser, page, staff.id


def _sign_out_in_another_tab(page, url: str) -> None:  # type: ignore[no-untyped-def]
    other = page.context.new_page()
    other.goto(f"{url}/account")
    other.locator("header form button").click()
    other.wait_for_url(f"{url}/login")
    other.close()


def _disable(plat: Platform, staff_id: str) -> None:
    with transaction(plat.sessions) as s:
        disable_staff(s, staff_id, actor="admin")


def _until(page, predicate: str, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for ``predicate`` (page.wait_for_function compiles it in the page: the CSP forbids that)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, predicate
        time.sleep(0.2)


def _expect_signed_out(page, box: str, status: str, player: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    expect(page.locator(box)).to_have_attribute("data-why", "signed_out", timeout=10_000)
    expect(page.locator(status)).to_contain_text("You are signed out")
    expect(page.locator(f"{status} a")).to_have_attribute("href", "/login?next=" + page.evaluate(
        "encodeURIComponent(location.pathname)"))
    assert page.evaluate(f"document.querySelector('{player}').getAttribute('src')") is None
    assert page.evaluate(SHOWN) == ""


def test_the_workbench_drops_the_clip_when_signed_out_in_another_tab(staffed) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    plat, url = staffed
    with sync_playwright() as pw:
        browser, page, _ = _open(pw, plat, url, "annotator")
        page.goto(f"{url}/review")
        expect(page.locator("#player")).to_have_attribute("data-state", "ready", timeout=20_000)
        assert "capital of france" in page.content()
        _sign_out_in_another_tab(page, url)
        _expect_signed_out(page, "#player", "#player-status", "#audio")
        expect(page.locator("#play")).to_be_disabled()
        assert page.evaluate("document.getElementById('transcript').value") == ""
        assert "capital of france" not in page.content()
        browser.close()


def test_the_adjudication_page_drops_the_clip_when_the_account_is_disabled(staffed) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    plat, url = staffed
    with sync_playwright() as pw:
        browser, page, lead = _open(pw, plat, url, "lead")
        page.goto(f"{url}/review/lead")
        page.locator("#adjudications a").first.click()
        expect(page.locator("#player")).to_have_attribute("data-state", "ready", timeout=20_000)
        assert "jazz" in page.content()
        _disable(plat, lead)
        _expect_signed_out(page, "#player", "#player-status", "#audio")
        expect(page.locator("#play")).to_be_disabled()
        assert page.evaluate("document.getElementById('transcript').value") == ""
        html = page.content()
        for said in ("play some jazz", "turn on the lights"):
            assert said not in html
        browser.close()


def test_the_case_page_drops_the_clip_when_signed_out_in_another_tab(staffed) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    plat, url = staffed
    with sync_playwright() as pw:
        browser, page, _ = _open(pw, plat, url, "privacy_officer")
        page.goto(f"{url}/privacy")
        page.locator("tr.report form[action$='/case'] button").click()
        page.wait_for_url(f"{url}/privacy/cases/**")
        expect(page.locator("#case-audio")).to_have_attribute("src", re.compile("."), timeout=20_000)
        assert "please help me" in page.content()
        _sign_out_in_another_tab(page, url)
        _expect_signed_out(page, "#case", "#case-status", "#case-audio")
        assert "please help me" not in page.content()
        browser.close()


def test_the_case_page_waits_while_the_clip_is_prepared(staffed) -> None:  # type: ignore[no-untyped-def]
    """The rendition is missing (as after a crash between sampling and its job, or a ``sensitive``
    purge): the audio answers 503 with Retry-After; the page counts it down, asks again, and plays
    the clip once the job has made it. Before, the player stayed broken until a reload."""
    from playwright.sync_api import expect, sync_playwright

    plat, url = staffed
    with transaction(plat.sessions) as s:
        recording_id = s.scalars(select(EmergencyReport.recording_id)).one()
        drop_renditions(s, [recording_id])
    with sync_playwright() as pw:
        browser, page, _ = _open(pw, plat, url, "privacy_officer")
        page.goto(f"{url}/privacy")
        page.locator("tr.report form[action$='/case'] button").click()
        page.wait_for_url(f"{url}/privacy/cases/**")
        expect(page.locator("#case-status")).to_contain_text("the audio is being prepared", timeout=10_000)
        assert rendition.render(plat, recording_id)  # the job the server queued, run here
        expect(page.locator("#case")).to_have_attribute("data-audio", "ready", timeout=30_000)
        _until(page, "document.getElementById('case-audio').duration > 0")
        expect(page.locator("#case-status")).to_have_text("")
        browser.close()
