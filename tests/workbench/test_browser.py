"""In Debian Chromium against a real `overheard serve`: a new annotator enrols (password + TOTP),
then reviews three clips with the keyboard only; each submission loads the next clip by itself,
and no page carries anything of a clip's origin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from overheard.accounts.service import create_staff
from overheard.config import Settings
from overheard.db import transaction
from overheard.demo import espeak_available, synthesise
from overheard.platform import Platform
from overheard.review.consent import set_human_review
from overheard.review.models import Annotation, TaskBar
from overheard.speech.audio import to_wav_bytes
from tests._browser import CHROMIUM, CHROMIUM_ARGS, live_server, overflow
from tests.conftest import tone_wav
from tests.workbench.conftest import (
    ADA,
    CAPTURED,
    SAMPLE_ALL,
    add_sampled_clip,
    consenting_household,
)

PASSWORD = "violet harbour lantern 42"
SAID = ["what is the weather in paris", "turn the volume up", "what is the capital of france"]
ANSWERS = [("what is the weather in paris today", "weather"), ("turn the volume up", "volume"),
           ("what is the capital of france", "general_question")]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed at /usr/bin/chromium"),
]


@dataclass(frozen=True)
class Scene:
    """The server's world: what must never show, and the annotator's enrolment link."""

    forbidden: list[str]
    enrol_path: str


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[tuple[Scene, Settings]]:
    with consenting_household(tmp_path) as (plat, settings, device):
        recordings = [add_sampled_clip(plat, device, text, SAMPLE_ALL, wav=_speech(text)) for text in SAID]
        with transaction(plat.sessions) as s:
            _, token = create_staff(s, name="Nadia Annotator", role="annotator")
        forbidden = [device.household_id, device.id, *recordings, ADA["account"], ADA["email"],
                     ADA["serial"], "Lovelace", CAPTURED.strftime("%Y-%m-%d"), str(CAPTURED.year)]
        yield Scene(forbidden, f"/enrol/{token}"), settings


def _speech(text: str) -> bytes:
    return to_wav_bytes(synthesise(text, "en-gb")) if espeak_available() else tone_wav(1.2)


@pytest.fixture
def server(scene) -> Iterator[str]:
    _, settings = scene
    with live_server(settings.data_dir, settings.database_url) as url:
        yield url


def _enrol(page, url: str, scene: Scene) -> str:
    page.goto(url + scene.enrol_path)
    page.focus("input[name=password]")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/enrol/mfa")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.focus("#code")
    page.keyboard.type(pyotp.TOTP(secret).now())
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/account")
    return page.locator("header nav a").first.inner_text()


@contextmanager
def _reviewing(url: str, scene: Scene, **page_options: Any) -> Iterator[Any]:
    """The workbench of a reviewer just enrolled, in headless Chromium, auto-play off."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(**page_options)
            page.add_init_script("localStorage.setItem('overheard.autoplay', 'off')")
            _enrol(page, url, scene)
            page.goto(f"{url}/review")
            yield page
        finally:
            browser.close()


def _tab_to(page, element_id: str, limit: int = 30) -> None:
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


def test_enrol_and_review_three_clips_with_the_keyboard(scene, server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    world, settings = scene
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script("localStorage.setItem('overheard.autoplay', 'off')")
        pseudonym = _enrol(page, server, world)
        page.goto(f"{server}/review")
        seen = []
        for n, (transcript, intent) in enumerate(ANSWERS):
            player = page.locator("#player")
            expect(player).to_have_attribute("data-state", "ready")
            if n == 1:  # a reload keeps the clip (its lease) and the speed
                page.reload()
                expect(player).to_have_attribute("data-state", "ready")
            clip = page.locator("#clip-pseudonym").inner_text()
            assert clip not in seen
            seen.append(clip)
            html = page.content()
            for secret in world.forbidden:
                assert secret not in html, secret
            assert page.evaluate("document.activeElement.id") == "play"
            if n == 0:  # nothing submitted yet: nothing to undo
                expect(page.locator("#undo-button")).to_be_hidden()
            if n == 0:
                page.keyboard.press("]")
            # The speed chosen on the first clip stays for the next ones, as auto-play does.
            expect(page.locator("#rate")).to_have_text("1.25×")
            assert page.evaluate("document.getElementById('audio').playbackRate") == 1.25
            page.keyboard.press("Space")
            expect(player).to_have_attribute("data-state", "playing")
            page.keyboard.press("Space")
            expect(player).to_have_attribute("data-state", "paused")
            page.keyboard.press("r")
            expect(player).to_have_attribute("data-state", "playing")
            assert page.locator("#transcript").input_value() == SAID[n]
            _tab_to(page, "transcript")
            page.keyboard.press("Control+A")
            page.keyboard.type(transcript)
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.id") == "intent-filter"
            page.keyboard.type(intent.split("_")[0])
            page.keyboard.press("Enter")
            assert page.locator("#intent").input_value() == intent
            if n == 1:
                _tab_to(page, "flag-not_directed")
                page.keyboard.press("Space")
            page.keyboard.press("Control+Enter")
            if n < len(ANSWERS) - 1:
                expect(page.locator("#notice")).to_contain_text("Saved")
                expect(page.locator("#clip-pseudonym")).not_to_have_text(clip)
        expect(page.locator("#queue-empty")).to_be_visible()
        expect(page.locator("#shift-clips")).to_have_text("3")
        browser.close()
    plat = Platform.open(settings)
    try:
        with plat.sessions() as s:
            rows = s.scalars(select(Annotation).order_by(Annotation.submitted_at)).all()
    finally:
        plat.close()
    assert [r.annotator for r in rows] == [pseudonym] * 3
    assert [r.not_directed for r in rows] == [False, True, False]


NO_STREAM = """
window.EventSource = undefined;
new MutationObserver((_, observer) => {
  const player = document.getElementById("player");
  if (player) { player.dataset.heartbeatS = "1"; observer.disconnect(); }
}).observe(document, { childList: true, subtree: true });
"""
"""A browser without the event stream (or a proxy that holds it back), the lease renewed every
second: only the renewal's refusal can tell the page its clip is gone."""


@pytest.mark.parametrize("told_by", ["stream", "heartbeat"])
def test_withdrawal_stops_the_player_and_drops_the_audio(scene, server, told_by):
    from playwright.sync_api import expect, sync_playwright

    world, settings = scene
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script("localStorage.setItem('overheard.autoplay', 'off')")
        if told_by == "heartbeat":
            page.add_init_script(NO_STREAM)
        _enrol(page, server, world)
        page.goto(server + "/review")
        expect(page.locator("#player")).to_have_attribute("data-state", "ready", timeout=20_000)
        plat = Platform.open(settings)
        try:
            with transaction(plat.sessions) as s:
                from overheard.households import Household

                for hh in s.scalars(select(Household)):
                    set_human_review(s, hh.id, False, actor="customer", now=CAPTURED)
            clicked = time.monotonic()
        finally:
            plat.close()
        expect(page.locator("#player")).to_have_attribute("data-state", "withdrawn", timeout=5_000)
        print(f"withdrawal reached the page in {time.monotonic() - clicked:.2f} s")
        assert page.evaluate("document.getElementById('audio').getAttribute('src')") is None
        expect(page.locator("#play")).to_be_disabled()
        told = "withdrew" if told_by == "stream" else "no longer yours"
        expect(page.locator("#player-status")).to_contain_text(told)
        # Nothing of the clip stays on the page: not its text, its words or an earlier transcript.
        shown = page.evaluate(
            "[...document.querySelectorAll('#annotate textarea')].map((t) => t.value).join('')"
            " + document.getElementById('words').textContent"
            " + document.getElementById('earlier').textContent"
        )
        assert shown == ""
        assert "paris" not in page.content().lower()  # the first clip's words (the intents stay)
        browser.close()


def test_every_workbench_key(scene, server):
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect, sync_playwright

    world, settings = scene
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
        )
        page = browser.new_page()
        _enrol(page, server, world)
        page.goto(f"{server}/review")
        player = page.locator("#player")
        expect(player).to_have_attribute("data-state", "playing")  # auto-play is on by default
        first = page.locator("#clip-pseudonym").inner_text()
        page.keyboard.press("a")
        expect(page.locator("#autoplay")).not_to_be_checked()
        page.keyboard.press("Space")
        expect(player).to_have_attribute("data-state", "paused")
        for key, rate in (("[", "0.75×"), ("[", "0.5×"), ("]", "0.75×")):
            page.keyboard.press(key)
            expect(page.locator("#rate")).to_have_text(rate)
        page.keyboard.press("z")
        expect(page.locator("#zoom")).to_have_text("2×")
        page.keyboard.press("Shift+Z")
        expect(page.locator("#zoom")).to_have_text("1×")
        box = page.locator("#waveform").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 3)
        middle = page.evaluate("document.getElementById('audio').currentTime")
        length = page.evaluate("document.getElementById('audio').duration")
        assert abs(middle - length / 2) < 0.1 * length
        page.keyboard.press("ArrowLeft")
        assert page.evaluate("document.getElementById('audio').currentTime") < middle
        page.keyboard.press("i")
        assert page.evaluate("document.activeElement.id") == "intent-filter"
        page.keyboard.type("weath")
        page.keyboard.press("Enter")
        assert page.locator("#intent").input_value() == "weather"
        assert page.evaluate("document.activeElement.id") == "play"
        for n in ("3", "4"):
            page.keyboard.press(n)
        expect(page.locator("#flag-unintelligible")).to_be_checked()
        expect(page.locator("#flag-not_directed")).to_be_checked()
        page.keyboard.press("4")
        expect(page.locator("#flag-not_directed")).not_to_be_checked()
        page.keyboard.press("c")
        page.keyboard.type("music in the background")
        page.keyboard.press("Escape")
        page.keyboard.press("t")
        assert page.evaluate("document.activeElement.id") == "transcript"
        page.keyboard.press("Escape")
        violations = Axe().run(page).response["violations"]
        assert [(v["id"], v["impact"]) for v in violations] == []
        page.keyboard.press("Control+Enter")
        expect(page.locator("#notice")).to_contain_text("Saved")
        expect(page.locator("#clip-pseudonym")).not_to_have_text(first)
        page.keyboard.press("u")  # back to the previous clip
        expect(page.locator("#notice")).to_contain_text("taken back")
        expect(page.locator("#clip-pseudonym")).to_have_text(first)
        page.keyboard.press("s")  # the skip reason; Enter skips with it
        assert page.evaluate("document.activeElement.id") == "skip-reason"
        page.keyboard.press("Enter")
        expect(page.locator("#notice")).to_contain_text("Skipped")
        expect(page.locator("#clip-pseudonym")).not_to_have_text(first)
        browser.close()
    plat = Platform.open(settings)
    try:
        with plat.sessions() as s:
            assert s.scalars(select(Annotation)).all() == []  # the one submit was undone
    finally:
        plat.close()


CRITICAL_SKIP = ("/review/events/", "/review/heartbeat")
"""Requests the page makes on its own clock (the withdrawal stream, lease renewal), not per clip."""


def test_a_reviewed_clip_costs_its_submit_and_its_audio(scene, server):
    """From Ctrl+Enter to the next clip ready: one submit answered with that clip, its marked audio,
    no page load; the stream that watches for withdrawal follows the new lease without reopening."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect

    world, settings = scene
    with _reviewing(server, world) as page:
        player = page.locator("#player")
        expect(player).to_have_attribute("data-state", "ready")
        seen: list[tuple[str, str, int]] = []
        loads: list[str] = []
        page.on("response", lambda r: seen.append((r.request.method, r.url.removeprefix(server), r.status))
                if r.url.startswith(server) else None)  # not the page's own blob: URL of the clip
        page.on("framenavigated", lambda f: loads.append(f.url) if f == page.main_frame else None)
        started = time.monotonic()
        for n, (_, intent) in enumerate(ANSWERS[:2]):
            clip = page.locator("#clip-pseudonym").inner_text()
            page.keyboard.press("i")
            page.keyboard.type(intent.split("_")[0])
            page.keyboard.press("Enter")
            before = len(seen)
            page.keyboard.press("Control+Enter")
            expect(page.locator("#clip-pseudonym")).not_to_have_text(clip)
            expect(player).to_have_attribute("data-state", "ready")
            critical = [(m, u, s) for m, u, s in seen[before:] if not u.startswith(CRITICAL_SKIP)]
            kinds = [(m, "/".join(u.split("?")[0].split("/")[:3]), s) for m, u, s in critical]
            assert kinds == [("POST", "/review/submit", 200), ("GET", "/review/audio", 200)], critical
            expect(page.locator("#notice")).to_contain_text("Saved")
            expect(page.locator("#shift-clips")).to_have_text(str(n + 1))
            assert page.evaluate("document.activeElement.id") == "play"
            assert page.locator("#transcript").input_value() == SAID[n + 1]
            assert page.locator("#intent").input_value() == ""
        elapsed = time.monotonic() - started
        assert loads == [], loads
        violations = Axe().run(page).response["violations"]
        assert [(v["id"], v["impact"]) for v in violations] == []
        streams = [u for _, u, _ in seen if u.startswith("/review/events/")]
        assert len(streams) <= 1 + int(elapsed // 25), streams
        plat = Platform.open(settings)
        try:
            with transaction(plat.sessions) as s:
                from overheard.households import Household

                for hh in s.scalars(select(Household)):
                    set_human_review(s, hh.id, False, actor="customer", now=CAPTURED)
        finally:
            plat.close()
        expect(player).to_have_attribute("data-state", "withdrawn", timeout=5_000)
        assert page.evaluate("document.getElementById('audio').getAttribute('src')") is None


def test_submitting_without_an_intent_says_so_and_keeps_the_keys(scene, server):
    """Ctrl+Enter before an intent is chosen: the page says so beside the intent, in words a screen
    reader announces, and puts the reviewer in the filter, where typing picks one; the keys work on.
    Before, the browser stopped on the <select> with a bubble only: Esc, I and typing a name there
    did nothing, and the status still said "Playing"."""
    from playwright.sync_api import expect

    world, _ = scene
    with _reviewing(server, world, viewport={"width": 390, "height": 800}) as page:  # a phone: the message must show near
        expect(page.locator("#player")).to_have_attribute("data-state", "ready")
        clip = page.locator("#clip-pseudonym").inner_text()
        page.keyboard.press("Control+Enter")
        missing = page.locator("#intent-missing")
        expect(missing).to_be_visible()
        expect(missing).to_have_attribute("role", "alert")
        expect(missing).to_contain_text("Choose what the speaker wanted")
        expect(page.locator("#intent")).to_have_attribute("aria-invalid", "true")
        assert page.evaluate("document.activeElement.id") == "intent-filter"
        y = {sel: page.locator(sel).bounding_box()["y"] for sel in ("#intent", "#intent-missing", "#flags")}
        assert y["#intent"] < y["#intent-missing"] < y["#flags"], y  # by the selector, not off-screen
        assert overflow(page) == 0
        page.keyboard.type("weath")
        page.keyboard.press("Enter")
        assert page.locator("#intent").input_value() == "weather"
        expect(missing).to_be_hidden()
        expect(page.locator("#intent")).not_to_have_attribute("aria-invalid", "true")
        page.focus("#intent")  # Esc leaves the selector as it leaves a text box
        page.keyboard.press("Escape")
        assert page.evaluate("document.activeElement.id") == "play"
        expect(page.locator("#clip-pseudonym")).to_have_text(clip)
        page.keyboard.press("Control+Enter")
        expect(page.locator("#notice")).to_contain_text("Saved")
        expect(page.locator("#clip-pseudonym")).not_to_have_text(clip)
        page.keyboard.press("Control+Enter")  # the next clip: the same again, from a clean form
        expect(missing).to_be_visible()


def test_s_asks_before_skipping_and_keeps_the_undo(scene, server, tmp_path):
    """`S` no longer skips at once with the default reason: it opens the skip reason, where `Enter`
    skips and any other key keeps the clip. Before, a reviewer who picked an intent (focus back on
    Play) and began a comment with "s" without pressing `C` lost the clip, and the skip also took
    away the Undo of the previous submit."""
    from playwright.sync_api import expect

    world, settings = scene
    with _reviewing(server, world) as page:
        skips: list[str] = []
        page.on("request", lambda r: skips.append(r.url) if "/review/skip" in r.url else None)
        expect(page.locator("#player")).to_have_attribute("data-state", "ready")
        first = page.locator("#clip-pseudonym").inner_text()
        page.keyboard.press("i")
        page.keyboard.type("weath")
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "play"
        page.keyboard.type("sounds like a tv")  # a comment begun without C
        page.wait_for_timeout(500)
        expect(page.locator("#clip-pseudonym")).to_have_text(first)
        expect(page.locator("#skip-confirm")).to_be_hidden()
        assert skips == []
        page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#notice")).to_contain_text("Saved")
        expect(page.locator("#clip-pseudonym")).not_to_have_text(first)
        second = page.locator("#clip-pseudonym").inner_text()
        # Once the clip is ready: its "Ready" would otherwise replace the question being asked.
        expect(page.locator("#player")).to_have_attribute("data-state", "ready")
        page.keyboard.press("s")  # the skip reason, asked
        expect(page.locator("#skip-confirm")).to_be_visible()
        assert page.evaluate("document.activeElement.id") == "skip-reason"
        expect(page.locator("#player-status")).to_contain_text("Enter skips")
        page.keyboard.press("Escape")  # kept
        assert page.evaluate("document.activeElement.id") == "play"
        expect(page.locator("#skip-confirm")).to_be_hidden()
        expect(page.locator("#player-status")).to_contain_text("Not skipped")
        page.keyboard.press("s")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")  # skipped, for the reason chosen
        expect(page.locator("#notice")).to_contain_text("Skipped")
        expect(page.locator("#clip-pseudonym")).not_to_have_text(second)
        assert len(skips) == 1
        expect(page.locator("#undo-button")).to_be_visible()  # the submit before can still be undone
        page.keyboard.press("u")
        expect(page.locator("#notice")).to_contain_text("taken back")
        expect(page.locator("#clip-pseudonym")).to_have_text(first)
    plat = Platform.open(settings)
    try:
        with plat.sessions() as s:
            assert [b.cause for b in s.scalars(select(TaskBar))] == ["not_english"]
            assert s.scalars(select(Annotation)).all() == []  # the submit was undone
    finally:
        plat.close()
