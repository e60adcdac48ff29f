"""Every page staff open, in Debian Chromium at phone and laptop widths: axe-core finds nothing and
nothing pushes the page sideways. The world holds something for each page to show: a disagreement
to adjudicate, reviewed clips, an emergency report, re-identification requests, staff of every role.

HTML pages and where they are checked (the customer's own pages in tests/customer/test_browser.py):

| page | here |
| --- | --- |
| /enrol/{token}, /enrol/mfa, /login, /login/mfa (and its error), /account | yes |
| /review (a clip; nothing left) | yes |
| /review/lead, /review/lead/adjudications/{id}, /review/lead/models | yes |
| /admin/users | yes |
| /privacy, /privacy/cases/{id}, /privacy/reidentify, the once-only identity page | yes |
| the error page (a 403) | yes |
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from overheard.accounts.models import Role
from overheard.accounts.rbac import StaffPrincipal
from overheard.accounts.service import create_staff
from overheard.config import Settings
from overheard.db import transaction
from overheard.hazmat import reidentify
from overheard.households import Device
from overheard.platform import Platform
from overheard.review import annotations, queue
from overheard.review.content import AnnotationInput
from overheard.review.models import EmergencyReport, ReviewTask
from overheard.review.policy import Flag, ReviewPolicy
from tests._browser import CHROMIUM, CHROMIUM_ARGS, WIDTHS, live_server, problems
from tests.workbench.conftest import SAMPLE_ALL, add_sampled_clip, consenting_household

PASSWORD = "violet harbour lantern 42"
DOUBLE = ReviewPolicy(sample_rate=1.0, household_cap=10_000, double_share=1.0, gold_share=0.0)
REASON = "The annotator heard a call for help; the household may need emergency services."

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed at /usr/bin/chromium"),
]


@dataclass(frozen=True)
class StaffWorld:
    """Enrolment links of a lead, an admin and a privacy officer; the settings of the server."""

    enrol: dict[str, str]
    settings: Settings


def _annotate(plat: Platform, annotator: str, text: str, *flags: str) -> None:
    now = datetime.now(UTC)
    with transaction(plat.sessions) as s:
        lease = queue.claim(s, annotator, SAMPLE_ALL, rng=random.Random(1), now=now)
        assert lease is not None
        answer = AnnotationInput(transcript=text, intent="none", flags=frozenset(Flag(f) for f in flags))
        annotations.submit(s, plat.gate, lease.lease_id, annotator, answer, SAMPLE_ALL, now=now)


def _reviewed(plat: Platform, device: Device) -> str:
    """A disagreement, an emergency report, a plain reviewed clip and one clip still waiting."""
    add_sampled_clip(plat, device, "turn on the lights", DOUBLE)
    _annotate(plat, "R-a1a1", "turn on the lights")
    _annotate(plat, "R-b2b2", "play some jazz music now")
    add_sampled_clip(plat, device, "please help me", SAMPLE_ALL)
    _annotate(plat, "R-a1a1", "please help me", "emergency")
    add_sampled_clip(plat, device, "what is the weather in paris", SAMPLE_ALL)
    _annotate(plat, "R-b2b2", "what is the weather in paris")
    add_sampled_clip(plat, device, "what is the capital of france", SAMPLE_ALL)
    with plat.sessions() as s:
        report = s.scalars(select(EmergencyReport)).one()
        return s.scalars(select(ReviewTask.pseudonym).where(ReviewTask.recording_id == report.recording_id)).one()


def _officer(s, name: str) -> tuple[StaffPrincipal, str]:  # type: ignore[no-untyped-def]
    staff, token = create_staff(s, name=name, role="privacy_officer")
    return StaffPrincipal(staff.id, staff.pseudonym, Role.PRIVACY_OFFICER), token


@pytest.fixture
def world(tmp_path: Path) -> Iterator[StaffWorld]:
    with consenting_household(tmp_path) as (plat, settings, device):
        clip = _reviewed(plat, device)
        policy, now = reidentify.ReidentifyPolicy(), datetime.now(UTC)
        with transaction(plat.sessions) as s:
            enrol = {role: f"/enrol/{create_staff(s, name=f'Pat {role}', role=role)[1]}"
                     for role in ("lead", "admin")}
            officer, token = _officer(s, "Pat Officer")
            other, _ = _officer(s, "Sam Officer")
            enrol["privacy_officer"] = f"/enrol/{token}"
            reidentify.request(s, plat.gate, other, task_pseudonym=clip, reason=REASON, policy=policy, now=now)
            mine = reidentify.request(s, plat.gate, officer, task_pseudonym=clip, reason=REASON, policy=policy, now=now)
            reidentify.decide(s, plat.gate, other, mine.id, approve=True, policy=policy, now=now)
        yield StaffWorld(enrol, settings)


def _enrol(page, url: str, path: str, check) -> None:  # type: ignore[no-untyped-def]
    """Set a password and confirm an authenticator, checking both pages on the way."""
    page.goto(url + path)
    check("/enrol/{token}")
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{url}/enrol/mfa")
    check("/enrol/mfa")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{url}/account")
    check("/account")


def _sign_in_again(page, url: str, check) -> None:  # type: ignore[no-untyped-def]
    """Sign out, then the staff sign-in page and its code page (with a wrong code's error)."""
    pseudonym = page.locator("header nav a").first.inner_text()
    page.locator("header form button").click()
    page.goto(f"{url}/login")
    check("/login")
    page.fill("#username", pseudonym)
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{url}/login/mfa**")
    check("/login/mfa")
    page.fill("#code", "000000")
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("#form-error")
    check("/login/mfa (wrong code)")


def _lead_pages(page, url: str, check) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/review")
    page.wait_for_selector("#player[data-state=ready], #player[data-state=playing]")
    check("/review")
    page.keyboard.press("i")
    page.keyboard.type("none")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#queue-empty")
    check("/review (nothing left)")
    page.goto(f"{url}/review/lead")
    check("/review/lead")
    page.locator("#adjudications a").first.click()
    page.wait_for_selector("#player[data-state=ready], #player[data-state=playing]")
    check("/review/lead/adjudications/{id}")
    page.check("#choice-first")
    page.locator("#submit").click()  # saved once: the lead's page says so, not "already settled"
    page.wait_for_url(f"{url}/review/lead?notice=adjudicated")
    page.goto(f"{url}/review/lead/models")
    check("/review/lead/models")


def _admin_pages(page, url: str, check) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/admin/users")
    check("/admin/users")
    page.goto(f"{url}/review/lead")
    check("/review/lead (admin)")
    page.goto(f"{url}/privacy")
    check("error page (403)")


def _officer_pages(page, url: str, check) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/privacy")
    check("/privacy")
    page.locator("tr.report form[action$='/case'] button").click()
    page.wait_for_url(f"{url}/privacy/cases/**")
    check("/privacy/cases/{id}")
    page.goto(f"{url}/privacy/reidentify")
    check("/privacy/reidentify")
    page.locator("form[action$='/view'] button").click()
    page.wait_for_selector("#identity")
    check("identity (once)")


@pytest.mark.parametrize("width", WIDTHS)
def test_every_staff_page_fits_and_passes_axe(world: StaffWorld, width: int) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    axe, found = Axe(), {}
    with live_server(world.settings.data_dir, world.settings.database_url) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for role, pages in (("lead", _lead_pages), ("admin", _admin_pages), ("privacy_officer", _officer_pages)):
            context = browser.new_context(viewport={"width": width, "height": 800})
            context.add_init_script("localStorage.setItem('overheard.autoplay', 'off')")
            page = context.new_page()

            def check(name: str, page=page, role=role) -> None:  # type: ignore[no-untyped-def]
                page.wait_for_load_state("networkidle")
                found[f"{role} {name}"] = problems(page, axe)

            _enrol(page, url, world.enrol[role], check)
            pages(page, url, check)
            if role == "lead":
                _sign_in_again(page, url, check)
            context.close()
        browser.close()
    failing = {name: p for name, p in found.items() if p}
    assert failing == {}, "\n".join(f"{name}: {p}" for name, p in failing.items())
