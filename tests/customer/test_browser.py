"""In a real browser against a real `overheard serve`: sign in, see a review and its reason, turn
review off, delete everything, get the signed receipt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from overheard.config import Settings
from overheard.db import transaction
from overheard.households import Device
from overheard.identity.service import enrol_household
from overheard.platform import Platform, initialise
from overheard.review.models import ReviewTask
from tests._browser import CHROMIUM, CHROMIUM_ARGS, live_server, problems
from tests.accounts.conftest import START, invite
from tests.customer.conftest import add_recording

PASSWORD = "violet harbour lantern 42"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed at /usr/bin/chromium"),
]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'overheard.db'}"


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[tuple[str, str]]:
    """A household with one reviewed recording and an invitation; yields (invite token, text)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url).resolved()
    initialise(settings)
    plat = Platform.open(settings)
    try:
        with transaction(plat.sessions) as s:
            hh = enrol_household(s, plat.keyring, plat.secrets, name="Ada", account="A-1",
                                 email="ada@example.org", serial="SN-1")
        with plat.sessions() as s:
            device = s.get(Device, hh.device_id)
        rec = add_recording(plat, device.id, "remind me to water the plants")
        with transaction(plat.sessions) as s:
            s.add(ReviewTask(id="t" * 32, pseudonym="C-000000000001", recording_id=rec.id,
                             household_id=hh.household_id, reason="low_confidence", state="done",
                             duration_s=rec.duration_s, created_at=START, done_by="R-5e6f",
                             done_at=START))
            from overheard.households import Household

            s.get(Household, hh.household_id).human_review = True
        yield invite(plat, hh.household_id), "remind me to water the plants"
    finally:
        plat.close()


def test_owner_reviews_turns_review_off_and_deletes_everything(world, tmp_path, database_url):
    from playwright.sync_api import expect, sync_playwright

    token, text = world
    with live_server(tmp_path / "data", database_url) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{url}/invite/{token}")
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=password_confirm]", PASSWORD)
        page.locator("form button[type=submit]").last.click()
        page.wait_for_url(f"{url}/me")
        review = page.locator("p.review")
        expect(review).to_contain_text("low_confidence")
        expect(review).to_contain_text("Reviewer ")
        expect(review).not_to_contain_text("R-5e6f")
        expect(page.locator("dd.transcript")).to_have_text(text)
        page.click("#review-toggle")
        expect(page.locator("#review-state")).to_contain_text("off")
        page.click("#delete-everything")
        page.fill("#confirm", "delete everything")
        page.click("#confirm-everything")
        expect(page.locator("#receipt-scope")).to_have_text("everything: 1 recording and your household key")
        expect(page.locator("#receipt-key")).to_have_text("yes")
        expect(page.locator("#receipt-signature")).not_to_be_empty()
        body = json.loads(page.locator("#receipt-json").inner_text())
        assert body["counts"]["recordings"] == 1 and body["household_key_destroyed"] is True
        page.goto(f"{url}/me")
        expect(page.locator("#recordings-h")).to_contain_text("(0)")
        browser.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_owner_pages_fit_a_phone_and_a_laptop_and_pass_axe(world, tmp_path, database_url, width):
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    axe = Axe()
    token, _ = world
    with live_server(tmp_path / "data", database_url) as url:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.goto(f"{url}/invite/{token}")
            page.fill("input[name=password]", PASSWORD)
            page.fill("input[name=password_confirm]", PASSWORD)
            page.locator("form button[type=submit]").last.click()
            page.wait_for_url(f"{url}/me")
            page.locator("article.recording button[type=submit]").first.click()
            page.wait_for_selector("#confirm-delete")
            wide = {"/me/delete (confirm)": problems(page, axe)}
            page.click("#confirm-delete")
            page.wait_for_selector("#receipt-json")
            wide["receipt"] = problems(page, axe)
            for path in ("/", "/me", "/me/access", "/me/delete/everything", "/me/security", "/login"):
                page.goto(f"{url}{path}")
                page.wait_for_load_state("networkidle")
                wide[path] = problems(page, axe)
            page.goto(f"{url}/docs")
            page.wait_for_selector(".swagger-ui .info")
            wide["/docs"] = [p for p in problems(page, axe) if "overflows" in p]  # third-party page
            browser.close()
        assert {p: found for p, found in wide.items() if found} == {}
