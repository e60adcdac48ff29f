"""A reviewer at human pace in Chromium: the workbench's keys against Tab navigation, same server.

    python benchmarks/workbench_pace.py [--clips 100] [--seed 7] [--key-s 0.2] [--flows keys,tab]
                                        [--before-src /path/to/earlier/src]

Seeds a fresh SQLite server with ``2 × clips + 2`` clips the way the demo does (espeak-ng speech of
the project's seed requests when espeak-ng is installed, a tone otherwise; ingested, marked
transcribed with a sealed hypothesis, sampled by the real sampler, disguised by the real rendition
job), starts ``overheard serve``, and has two annotators enrol in Debian's Chromium (password +
TOTP). Both then review ``clips`` clips each, at the same time, keyboard only, through the real
page (disguised audio, waveform, heartbeats, event stream, form POSTs):

* **keys** — the page as it is: auto-play on, so nothing to start; ``T`` End, type, ``Esc`` to
  correct the transcript; ``I``, type the shortest part of the intent that makes it the first match,
  ``Enter``; ``4`` for the not-directed flag; ``Ctrl+Enter`` to submit.
* **tab** — the same page worked the way the earlier page (before the zoom, auto-play, intent filter
  and flag keys) had to be: auto-play off, ``Space`` to play; ``Tab`` from the Play button to the
  transcript (``End``, type), ``Tab`` on to the intent selector and Chromium's type-ahead on it
  (the same letters; arrow keys if type-ahead lands elsewhere); ``Tab`` to the flag and ``Space``;
  ``Ctrl+Enter`` (which the earlier page had). Every Tab needed on today's page is pressed and
  counted; today's page has more player controls between Play and the transcript than the earlier
  one (zoom, auto-play, spectrogram), so this flow counts some Tabs the earlier page did not need.

Both reviewers draw the same seeded sequence of choices: listen 3–5 s (uniform) before the first key,
correct a word in 20 % of the clips, flag 10 % not-directed; every keystroke takes ``--key-s``
(0.2 s: a practised typist's pace, applied to navigation keys as well). Clips per hour are clips
over the wall time from the first page to the last submit, page loads included. ``429`` counts the
serving limit's refusals the pages met (goal 0). The two reviewers work at once, so the run takes
about ``clips × 10 s`` plus seeding (about 3 s a clip, mostly the voice disguise): 27 minutes for
``--clips 100`` on a busy 2-core machine, about a minute for ``--clips 3``.

Requests and waits. Every request a page makes after its first clip is shown is counted by kind
(``page``: ``GET /review``; ``submit``, ``skip``, ``undo``; ``audio``; ``events``: the withdrawal
stream; ``heartbeat``; ``static``: scripts, styles, icon), and so are the ones on the critical path
of each clip: from ``Ctrl+Enter`` to the next clip ready to play, less the stream and the
heartbeats (they run on the page's own clock). ``wait`` is that time, the one the reviewer spends
waiting. Server CPU is the user + system time of the server's process tree over the reviewers'
run, divided by the clips it served (listening time included: the stream's polls and heartbeats
run then).

``--before-src`` also serves a copy of the same seeded world from another source tree (``main``'s
``src``, say) on a second server, with the same flows and the same choices at the same time, so
the two versions share the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyotp
from review_http import serve
from review_loop import cpu_seconds

from overheard import jobs
from overheard.accounts.service import create_staff
from overheard.config import Settings
from overheard.db import transaction
from overheard.demo import espeak_available, seed_requests, synthesise
from overheard.households import Device
from overheard.identity.service import enrol_household
from overheard.jobs import JobState
from overheard.platform import Platform, initialise
from overheard.protect import rendition
from overheard.recordings.ingest import ingest
from overheard.recordings.models import Recording, Status
from overheard.review.consent import set_human_review
from overheard.review.policy import ReviewPolicy
from overheard.review.sampler import DISGUISE_JOB, sample_after_transcription
from overheard.speech.audio import to_wav_bytes
from overheard.workbench import flow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
PASSWORD = "violet harbour lantern 42"
SAMPLE_ALL = ReviewPolicy(sample_rate=1.0, household_cap=100_000, double_share=0.0, gold_share=0.0)
LISTEN_S = (3.0, 5.0)
"""How long the reviewer listens and thinks before the first key, seconds (uniform)."""
EDIT_SHARE, FLAG_SHARE = 0.2, 0.1
"""Share of clips whose transcript gets one word added; share flagged not-directed."""
EDIT = " now"
SEED_FILE = Path(__file__).resolve().parents[1] / "src/overheard/data/seed_requests.tsv"


@dataclass(frozen=True)
class Choice:
    """What the reviewer does with one clip (drawn the same for both flows)."""

    listen_s: float
    edit: bool
    flag: bool


@dataclass
class Tally:
    """One reviewer's run."""

    name: str
    clips: int = 0
    seconds: float = 0.0
    keys: list[int] = field(default_factory=list)
    refused: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    """Requests by kind after the first clip was shown."""
    on_path: list[int] = field(default_factory=list)
    """Requests from each Ctrl+Enter to the next clip ready, less the stream and heartbeats."""
    waits: list[float] = field(default_factory=list)
    """Seconds from each Ctrl+Enter to the next clip ready to play."""
    source: str = "this"
    cpu_ms_per_clip: float = 0.0
    """The server's CPU over the run ÷ the clips it served (all its reviewers)."""


BACKGROUND = ("events", "heartbeat")
"""Requests the page makes on its own clock, not because a clip was submitted."""


def kind(method: str, path: str) -> str:
    """What a request of the page is for (see the module's docstring)."""
    path = path.split("?")[0]
    if path.startswith(("/static/", "/favicon")):
        return "static"
    parts = path.split("/")
    if path == "/review":
        return "page"
    if len(parts) > 2 and parts[1] == "review" and parts[2] in ("submit", "skip", "undo", "audio",
                                                                 "events", "heartbeat"):
        return parts[2]
    return f"{method} {path}"


NEXT_READY = """clip => {
  const shown = document.getElementById("clip-pseudonym"), player = document.getElementById("player");
  if (document.getElementById("queue-empty")) return true;
  return !!shown && shown.textContent !== clip && ["ready", "playing", "ended"].includes(player.dataset.state);
}"""
"""True once the page shows a clip other than ``clip`` ready to play (or the empty queue)."""


def choices(n: int, seed: int) -> list[Choice]:
    """The seeded sequence of per-clip choices."""
    rng = random.Random(seed)
    return [Choice(rng.uniform(*LISTEN_S), rng.random() < EDIT_SHARE, rng.random() < FLAG_SHARE) for _ in range(n)]


def _intents_of_requests() -> list[tuple[str, str]]:
    rows = [line.split("\t")[:2] for line in SEED_FILE.read_text(encoding="utf-8").splitlines() if line]
    allowed = set(seed_requests())
    return [(text, intent) for text, intent in rows if text in allowed]


def _speech(text: str) -> bytes:
    if espeak_available():
        return to_wav_bytes(synthesise(text, "en-gb", speed_wpm=170))
    import numpy as np

    t = np.arange(int(1.5 * 16000)) / 16000
    return to_wav_bytes((np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16))


@dataclass(frozen=True)
class World:
    """What the scripted reviewers know: each clip's right intent, the selector's intents, and
    two annotators' enrolment links."""

    answers: dict[str, str]
    intents: list[str]
    enrol: list[str]


def seed(settings: Settings, count: int, rng: random.Random) -> World:
    """``count`` sampled, disguised clips and two annotators still to enrol."""
    initialise(settings)
    plat = Platform.open(settings)
    rendition.register()
    requests = _intents_of_requests()
    answers: dict[str, str] = {}
    now = datetime.now(UTC)
    try:
        with transaction(plat.sessions) as s:
            hh = enrol_household(s, plat.keyring, plat.secrets, name="Pace Bench", account="ACC-1",
                                 email="pace@example.org", serial="SN-1")
            set_human_review(s, hh.household_id, True, actor="customer", now=now)
        with plat.sessions() as s:
            device = s.get(Device, hh.device_id)
        for _ in range(count):
            text, intent = rng.choice(requests)
            rec = ingest(plat, device, _speech(text), captured_at=now, now=now).recording
            with transaction(plat.sessions) as s:
                row = s.get(Recording, rec.id)
                row.status, row.processed_at, row.asr_confidence = Status.TRANSCRIBED.value, now, 0.9
                plat.gate.seal_text(s, row, "hypothesis", json.dumps({"text": text, "confidence": 0.9}))
                task = sample_after_transcription(s, row, SAMPLE_ALL, rng, now)
                answers[task.pseudonym] = intent
            assert jobs.run_now(plat, DISGUISE_JOB, rec.id) is JobState.DONE
        with transaction(plat.sessions) as s:
            paths = [f"/enrol/{create_staff(s, name=f'Pace {n}', role='annotator')[1]}" for n in (1, 2)]
        intents = list(flow.intent_choices(plat))
    finally:
        plat.close()
    return World(answers, intents, paths)


def filter_prefix(intent: str, intents: list[str]) -> str:
    """The fewest letters of ``intent``'s label that make it the filter's first match."""
    label = intent.replace("_", " ")
    for n in range(1, len(label) + 1):
        typed = label[:n].strip().split()
        first = next(o for o in intents if all(w in o.replace("_", " ") for w in typed))
        if typed and first == intent:
            return label[:n]
    return label


class Keyboard:
    """Presses keys at a human pace and counts them."""

    def __init__(self, page, key_s: float) -> None:  # type: ignore[no-untyped-def]
        self.page, self.key_s, self.count = page, key_s, 0

    async def press(self, key: str) -> None:
        await self.page.keyboard.press(key)
        self.count += 1
        await asyncio.sleep(self.key_s)

    async def type(self, text: str) -> None:
        for ch in text:
            await self.press(ch)

    async def tab_to(self, element_id: str) -> None:
        for _ in range(40):
            if await self.page.evaluate("document.activeElement && document.activeElement.id") == element_id:
                return
            await self.press("Tab")
        raise RuntimeError(f"Tab never reached #{element_id}")


async def with_keys(kb: Keyboard, choice: Choice, intent: str, intents: list[str]) -> None:
    """Today's page: auto-play, T/I/digit keys, Ctrl+Enter."""
    await kb.page.wait_for_selector("#player[data-state=playing], #player[data-state=ended], #player[data-state=ready]")
    await asyncio.sleep(choice.listen_s)
    if choice.edit:
        for key in ("t", "End"):
            await kb.press(key)
        await kb.type(EDIT)
        await kb.press("Escape")
    await kb.press("i")
    await kb.type(filter_prefix(intent, intents))
    await kb.press("Enter")
    if choice.flag:
        await kb.press("4")


async def with_tabs(kb: Keyboard, choice: Choice, intent: str, intents: list[str]) -> None:
    """The earlier way: Space to play, Tab through the controls, type-ahead on the selector."""
    await kb.page.wait_for_selector("#player[data-state=ready]")
    await kb.press("Space")
    await asyncio.sleep(choice.listen_s)
    await kb.tab_to("transcript")
    if choice.edit:
        await kb.press("End")
        await kb.type(EDIT)
    await kb.tab_to("intent")
    await kb.type(filter_prefix(intent, intents).split(" ")[0])  # a space would open the list
    target = intents.index(intent) + 1  # after "Choose an intent"
    for _ in range(len(intents) + 1):
        at = await kb.page.evaluate("document.getElementById('intent').selectedIndex")
        if at == target:
            break
        await kb.press("ArrowDown" if at < target else "ArrowUp")
    if choice.flag:
        await kb.tab_to("flag-not_directed")
        await kb.press("Space")


async def enrol(page, url: str, path: str) -> None:  # type: ignore[no-untyped-def]
    """Password and authenticator through the enrolment pages."""
    await page.goto(url + path)
    await page.fill("#password", PASSWORD)
    await page.fill("#password_confirm", PASSWORD)
    await page.locator("main form button[type=submit]").click()
    await page.wait_for_url(f"{url}/enrol/mfa")
    secret = (await page.locator("#totp-secret").inner_text()).replace(" ", "")
    await page.fill("#code", pyotp.TOTP(secret).now())
    await page.locator("main form button[type=submit]").click()
    await page.wait_for_url(f"{url}/account")


async def reviewer(browser, url: str, path: str, name: str, plan: list[Choice], world: World,
                   key_s: float, source: str = "this") -> Tally:  # type: ignore[no-untyped-def]
    """One annotator working ``len(plan)`` clips through the page."""
    from playwright.async_api import Error as PlaywrightError

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    autoplay = "on" if name == "keys" else "off"
    await context.add_init_script(f"localStorage.setItem('overheard.autoplay', '{autoplay}')")
    page = await context.new_page()
    tally, work = Tally(name, source=source), with_keys if name == "keys" else with_tabs
    log: list[str] = []
    counting = [False]

    def count_refusals(response) -> None:  # type: ignore[no-untyped-def]
        tally.refused += response.status == 429

    def count(request) -> None:  # type: ignore[no-untyped-def]
        if counting[0] and request.url.startswith(url):
            log.append(kind(request.method, request.url.removeprefix(url)))

    page.on("response", count_refusals)
    page.on("request", count)
    await enrol(page, url, path)
    await page.goto(f"{url}/review")
    counting[0] = True
    started = time.monotonic()
    for choice in plan:
        kb = Keyboard(page, key_s)
        clip = await page.locator("#clip-pseudonym").inner_text()
        intent = world.answers.get(clip, "none")
        await work(kb, choice, intent, world.intents)
        chosen = await page.evaluate("document.getElementById('intent').value")
        if chosen != intent:
            raise RuntimeError(f"{name}: chose {chosen!r} for {intent!r}")
        before, pressed = len(log), time.monotonic()
        await kb.press("Control+Enter")
        while True:  # the old page navigates in between: wait again in the new one
            try:
                await page.wait_for_function(NEXT_READY, arg=clip, polling=10, timeout=60_000)
                break
            except PlaywrightError as exc:
                if "Timeout" in str(exc):
                    raise
                await asyncio.sleep(0.01)
        tally.waits.append(time.monotonic() - pressed - key_s)  # the key's own pause is not waiting
        tally.on_path.append(sum(1 for k in log[before:] if k not in BACKGROUND))
        tally.clips += 1
        tally.keys.append(kb.count)
    tally.seconds = time.monotonic() - started
    tally.requests = {k: log.count(k) for k in sorted(set(log))}
    await context.close()
    return tally


@dataclass(frozen=True)
class Site:
    """One server under test: where it is, what it runs, whom it enrols."""

    url: str
    source: str
    """``this`` or ``before``."""
    pid: int


async def run(sites: list[Site], world: World, plan: list[Choice], key_s: float,
              flows: list[str]) -> list[Tally]:
    """Every flow on every server at once, each reviewer in its own browser context."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        jobs_ = [reviewer(browser, site.url, world.enrol[i], flow, plan, world, key_s, site.source)
                 for site in sites for i, flow in enumerate(flows)]
        cpu0 = {site.source: cpu_seconds(site.pid) for site in sites}
        tallies = list(await asyncio.gather(*jobs_))
        for site in sites:
            mine = [t for t in tallies if t.source == site.source]
            clips = sum(t.clips for t in mine)
            for t in mine:
                t.cpu_ms_per_clip = 1000 * (cpu_seconds(site.pid) - cpu0[site.source]) / max(clips, 1)
        await browser.close()
    return tallies


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(tallies: list[Tally], args: argparse.Namespace) -> None:
    """One row per server and flow, then the requests by kind."""
    print(f"{args.clips} clips per reviewer, listen {LISTEN_S[0]:g}–{LISTEN_S[1]:g} s, {args.key_s:g} s per key, "
          f"seed {args.seed}, espeak-ng speech: {'yes' if espeak_available() else 'no (tone)'}")
    print(f"{'source':<7} {'flow':<6} {'clips':>5} {'429s':>5} {'clips/hour':>10} {'s/clip':>7} {'keys/clip':>9} "
          f"{'median':>6} {'req/clip':>8} {'on path':>7} {'wait p50 ms':>11} {'wait p99 ms':>11} {'CPU ms/clip':>11}")
    for t in tallies:
        print(f"{t.source:<7} {t.name:<6} {t.clips:>5} {t.refused:>5} {3600 * t.clips / t.seconds:>10.0f} "
              f"{t.seconds / t.clips:>7.2f} {statistics.mean(t.keys):>9.1f} {statistics.median(t.keys):>6.0f} "
              f"{sum(t.requests.values()) / t.clips:>8.2f} {statistics.mean(t.on_path):>7.2f} "
              f"{1000 * statistics.median(t.waits):>11.0f} {1000 * pct(t.waits, 0.99):>11.0f} {t.cpu_ms_per_clip:>11.1f}")
    print("requests per clip by kind:")
    for t in tallies:
        kinds = ", ".join(f"{k} {n / t.clips:.2f}" for k, n in t.requests.items())
        print(f"  {t.source:<7} {t.name:<6} {kinds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100, help="clips each reviewer works")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--key-s", type=float, default=0.2, help="seconds per keystroke")
    parser.add_argument("--flows", default="keys,tab", help="comma-separated: keys, tab")
    parser.add_argument("--before-src", type=Path, help="also serve the same world from this src tree")
    args = parser.parse_args()
    flows = args.flows.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        here = Path(tmp) / "this"
        settings = Settings(data_dir=here / "data", database_url=f"sqlite:///{here}/pace.db").resolved()
        began = time.monotonic()
        world = seed(settings, len(flows) * args.clips + 2, random.Random(args.seed))
        print(f"seeded {len(flows) * args.clips + 2} clips in {time.monotonic() - began:.0f} s", flush=True)
        servers = [(serve(settings), "this")]  # its log: data/server.log
        if args.before_src:
            there = Path(tmp) / "before"
            shutil.copytree(here, there)
            copy = Settings(data_dir=there / "data", database_url=f"sqlite:///{there}/pace.db").resolved()
            servers.append((serve(copy, source=args.before_src.resolve()), "before"))
        sites = [Site(url, source, proc.pid) for (proc, url), source in servers]
        try:
            tallies = asyncio.run(run(sites, world, choices(args.clips, args.seed), args.key_s, flows))
        finally:
            for (proc, _), _source in servers:
                proc.terminate()
                proc.wait(timeout=30)
    report(tallies, args)


if __name__ == "__main__":
    main()
