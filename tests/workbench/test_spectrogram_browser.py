"""The workbench's spectrogram in Debian Chromium: its FFT puts a tone where it belongs, `V` shows it
over the whole clip, it follows zoom and the playhead, and the browser remembers it after a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests._browser import CHROMIUM, CHROMIUM_ARGS, live_server, problems
from tests.workbench.test_browser import _enrol, scene  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed at /usr/bin/chromium"),
]

TONE_PEAK_HZ = """() => {
  const rate = 16000, x = new Int16Array(rate);
  for (let i = 0; i < rate; i++) x[i] = Math.round(12000 * Math.sin(2 * Math.PI * 1250 * i / rate));
  const s = OverheardSpectrogram.compute(x, rate), frame = Math.floor(s.frames / 2) * s.bins;
  let best = 0;
  for (let b = 1; b < s.bins; b++) if (s.levels[frame + b] > s.levels[frame + best]) best = b;
  return best * s.topHz / s.bins;
}"""
COLUMNS = """() => {
  const c = document.getElementById("spectrogram"), g = c.getContext("2d");
  const d = g.getImageData(0, 0, c.width, c.height).data, [r0, g0, b0] = OverheardSpectrogram.BACKGROUND;
  const painted = [], marked = [], red = [];
  for (let x = 0; x < c.width; x++) {
    let p = false, m = false, h = false;
    for (let y = 0; y < c.height; y++) {
      const i = (y * c.width + x) * 4;
      if (d[i + 3] === 0) continue;
      p = true;
      if (d[i] === 179 && d[i + 1] === 38 && d[i + 2] === 30) { h = true; continue; }
      if (Math.abs(d[i] - r0) + Math.abs(d[i + 1] - g0) + Math.abs(d[i + 2] - b0) > 30) m = true;
    }
    painted.push(p); marked.push(m); red.push(h);
  }
  return { width: c.width, painted, marked, red, hash: Array.from(d.filter((_, i) => i % 97 === 0)).join(",") };
}"""


@pytest.fixture
def server(scene) -> Iterator[str]:  # noqa: F811
    _, settings = scene
    with live_server(settings.data_dir, settings.database_url) as url:
        yield url


def _image(page) -> dict:  # type: ignore[no-untyped-def]
    return page.evaluate(COLUMNS)


def test_spectrogram_covers_the_clip_follows_the_view_and_is_remembered(scene, server):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect, sync_playwright

    world, _ = scene
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script("localStorage.setItem('overheard.autoplay', 'off')")
        _enrol(page, server, world)
        page.goto(f"{server}/review")
        player, spectrogram = page.locator("#player"), page.locator("#spectrogram")
        expect(player).to_have_attribute("data-state", "ready")
        expect(spectrogram).to_be_hidden()  # off until asked for
        assert abs(page.evaluate(TONE_PEAK_HZ) - 1250) <= 16000 / 512

        page.keyboard.press("v")
        expect(spectrogram).to_be_visible()
        expect(page.locator("#spectrogram-toggle")).to_be_checked()
        duration = page.evaluate("document.getElementById('audio').duration")
        assert abs(float(spectrogram.get_attribute("data-seconds")) - duration) < 0.01
        whole = _image(page)
        assert all(whole["painted"])  # at 1× the view is the whole clip, edge to edge
        assert sum(whole["marked"]) >= 0.25 * whole["width"]  # the sound shows, not a blank strip
        assert whole["red"][0] or whole["red"][1]  # the playhead at 0 s

        box = spectrogram.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        now = page.evaluate("document.getElementById('audio').currentTime")
        assert abs(now - duration / 2) < 0.1 * duration  # a click on it seeks, like the waveform
        red = [x for x, on in enumerate(_image(page)["red"]) if on]
        assert red and abs(red[0] - whole["width"] / 2) < 0.05 * whole["width"]
        page.keyboard.press("z")
        expect(page.locator("#zoom")).to_have_text("2×")
        assert _image(page)["hash"] != whole["hash"]  # the zoomed view draws half the clip wider

        assert problems(page, Axe()) == []
        page.reload()
        expect(player).to_have_attribute("data-state", "ready")
        expect(spectrogram).to_be_visible()  # remembered in this browser
        expect(page.locator("#spectrogram-toggle")).to_be_checked()
        expect(spectrogram).to_have_attribute("data-frames", re.compile(r"^[1-9][0-9]*$"))
        assert sum(_image(page)["marked"]) >= 0.25 * whole["width"]
        page.keyboard.press("v")
        expect(spectrogram).to_be_hidden()
        assert page.evaluate("localStorage.getItem('overheard.spectrogram')") == "off"
        browser.close()
