"""The annotator's review loop, Overheard beside Label Studio, same machine and same window.

Run: ``python benchmarks/vs_label_studio.py --label-studio-venv /tmp/ls-venv [--seconds 8]
[--levels 1,8] [--databases sqlite,postgresql]``.

Label Studio lives in its own virtualenv (``python3 -m venv /tmp/ls-venv &&
/tmp/ls-venv/bin/pip install 'label-studio==1.23.2' psycopg2-binary``); without it only Overheard
runs and the script says so. For each database both servers are started on loopback — Overheard as
``benchmarks/review_loop.py`` starts it, Label Studio with ``label-studio start`` (the way its
pip package is run) on its own SQLite file or its own throw-away PostgreSQL database — and both are
fed the same real read-speech clips (LibriSpeech from the evaluation data, at most 4 s, 16 kHz).

Label Studio's side: a project with an audio transcription config (``<Audio>`` + ``<TextArea>``, one
annotation per task), the clips uploaded once as files (served back by Label Studio from its media
directory), fresh tasks imported for every level, one user with an API token per client. A client's
cycle is what the labelling stream calls: ``GET /api/projects/<id>/next/`` (the next task, locked to
the user) → ``GET`` the task's whole audio → ``POST /api/tasks/<id>/annotations/`` with a
transcription. Overheard's cycle is ``review_loop.cycle`` (claim → task → whole audio → submit).

At each level the two run one after the other, the order alternating from level to level and
database to database. Printed per tool and level: cycles/s, p50/p99 (ms), duplicates (a task handed
to more than one client; must be 0), server CPU per cycle (process tree, ms) and RSS; then the ratio
Overheard ÷ Label Studio of cycles/s beside the goal of issue 13 (≥ 10× at 8 clients, p99 ≤ 100 ms,
0 duplicates). The 1-minute load average before and after is printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from _databases import databases
from review_http import Account, make_accounts, make_household
from review_http import serve as start_overheard
from review_loop import (
    CLIPS,
    DEFAULT_DATA,
    EXTRA_ENV,
    Level,
    _drain,
    cycle,
    disguised,
    pct,
    real_clips,
    run_level,
    seed,
)

from overheard.config import Settings
from overheard.platform import Platform, initialise
from overheard.workbench.client import ReviewClient, ReviewHttpError

WANTED_VERSION = "1.23.2"
START_TIMEOUT_S = 600
"""Seconds Label Studio may take to migrate its database and answer (a busy 2-core machine)."""
TASKS_PER_S = 50
"""Tasks per second of a level for each tool; a level that empties its queue ends early."""
TRANSCRIPT = "what is the weather like tomorrow"
LABEL_CONFIG = """<View>
  <Audio name="audio" value="$audio"/>
  <TextArea name="transcription" toName="audio" rows="2" editable="true" maxSubmissions="1"/>
</View>"""
LS_SETUP = r"""
import json, sys
import django
from django.core.management import call_command
django.setup()
call_command("migrate", verbosity=0, interactive=False)
from organizations.models import Organization
from rest_framework.authtoken.models import Token
from users.models import User
tokens, org = [], None
for i in range(int(sys.argv[1])):
    user = User.objects.create_user(email=f"annotator{i}@bench.invalid", password=None)
    if org is None:
        org = Organization.create_organization(created_by=user, title="Bench")
    else:
        org.add_user(user)
    user.active_organization = org
    user.save()
    tokens.append(Token.objects.get_or_create(user=user)[0].key)
try:
    from jwt_auth.models import JWTSettings
    JWTSettings.objects.update_or_create(organization=org, defaults={"legacy_api_tokens_enabled": True})
except ImportError:
    pass
print(json.dumps(tokens))
"""
"""Run in Label Studio's own interpreter: migrate, then one user + legacy API token per client."""


@dataclass
class LabelStudio:
    """A running Label Studio server and what the benchmark made in it."""

    proc: subprocess.Popen[bytes]
    url: str
    tokens: list[str]
    audio_urls: list[str]
    version: str


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_wavs(clips: list[np.ndarray], folder: Path) -> list[Path]:
    """Each clip as a 16 kHz mono 16-bit WAV file."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, pcm in enumerate(clips):
        path = folder / f"clip{i}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(pcm.astype("<i2").tobytes())
        paths.append(path)
    return paths


def ls_env(data_dir: Path, database_url: str) -> dict[str, str]:
    """Environment of a Label Studio process on its SQLite file or PostgreSQL database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OVERHEARD_", "PYTHON"))}
    env |= {"LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "DEBUG": "false", "LOG_LEVEL": "WARNING"}
    env |= {
        "DJANGO_SETTINGS_MODULE": "label_studio.core.settings.label_studio",
        "COLLECT_ANALYTICS": "false",
    }
    if database_url.startswith("sqlite"):
        return env | {"DJANGO_DB": "sqlite"}
    rest = database_url.split("://", 1)[1]
    auth, location = rest.rsplit("@", 1)
    user, _, password = auth.partition(":")
    hostport, name = location.split("/", 1)
    host, _, port = hostport.partition(":")
    return env | {
        "DJANGO_DB": "default", "POSTGRE_NAME": name, "POSTGRE_USER": user,
        "POSTGRE_PASSWORD": password, "POSTGRE_HOST": host, "POSTGRE_PORT": port or "5432",
    }  # fmt: skip


def ls_version(venv: Path) -> str:
    """The Label Studio version installed in ``venv``."""
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import label_studio; print(label_studio.__version__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def start_label_studio(
    venv: Path, env: dict[str, str], clients: int, wavs: list[Path]
) -> LabelStudio:
    """Migrate, make ``clients`` users, start the server and upload the clips."""
    python = str(venv / "bin" / "python")
    package = subprocess.run(
        [python, "-c", "import label_studio, os; print(os.path.dirname(label_studio.__file__))"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.strip()  # fmt: skip
    env = env | {"PYTHONPATH": package}
    made = subprocess.run(
        [python, "-c", LS_SETUP, str(clients)],
        capture_output=True,
        text=True,
        env=env,
        timeout=START_TIMEOUT_S,
    )
    if made.returncode != 0:
        raise RuntimeError(f"Label Studio setup failed: {made.stderr[-2000:]}")
    tokens = json.loads(made.stdout.strip().splitlines()[-1])
    port = free_port()
    log = (Path(env["LABEL_STUDIO_BASE_DATA_DIR"]) / "server.log").open("ab")
    cmd = [
        str(venv / "bin" / "label-studio"),
        "start",
        "--no-browser",
        "--host",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("Label Studio did not start; see its server.log")
        time.sleep(0.5)
    studio = LabelStudio(proc, url, tokens, [], ls_version(venv))
    try:
        with ls_client(studio, 0) as c:
            project = new_project(c, "clips")
            files = {f"file{i}": (p.name, p.read_bytes(), "audio/wav") for i, p in enumerate(wavs)}
            c.post(f"/api/projects/{project}/import", files=files).raise_for_status()
            tasks = c.get("/api/tasks/", params={"project": project, "page_size": 100}).json()
            listed = tasks["tasks"] if isinstance(tasks, dict) else tasks
            studio.audio_urls = [t["data"]["audio"] for t in listed]
        if len(studio.audio_urls) != len(wavs):
            raise RuntimeError(f"Label Studio took {len(studio.audio_urls)} of {len(wavs)} clips")
    except BaseException:
        stop(proc)
        raise
    return studio


def ls_client(studio: LabelStudio, i: int) -> httpx.Client:
    """An HTTP client authenticated as user ``i``."""
    return httpx.Client(
        base_url=studio.url, headers={"Authorization": f"Token {studio.tokens[i]}"}, timeout=60
    )


def new_project(c: httpx.Client, title: str) -> int:
    """A transcription project, one annotation per task; its id."""
    r = c.post(
        "/api/projects/",
        json={"title": title, "label_config": LABEL_CONFIG, "maximum_annotations": 1},
    )
    r.raise_for_status()
    return int(r.json()["id"])


def ls_seed(studio: LabelStudio, n: int) -> int:
    """A fresh project holding ``n`` tasks over the uploaded clips; its id."""
    with ls_client(studio, 0) as c:
        project = new_project(c, f"level {secrets.token_hex(4)}")
        tasks = [{"audio": studio.audio_urls[i % len(studio.audio_urls)]} for i in range(n)]
        c.post(f"/api/projects/{project}/import", json=tasks, timeout=600).raise_for_status()
        count = c.get(f"/api/projects/{project}/").json().get("task_number")
    if count != n:
        raise RuntimeError(f"Label Studio imported {count} of {n} tasks")
    return project


def ls_cycle(client: httpx.Client, project: int) -> tuple[str, float] | None:
    """One loop: next task, its whole audio, an annotation; (task id, seconds) or None when empty."""
    start = time.perf_counter()
    r = client.get(f"/api/projects/{project}/next/")
    if r.status_code == 404:
        return None
    r.raise_for_status()
    task = r.json()
    wav = client.get(task["data"]["audio"])
    wav.raise_for_status()
    assert wav.content[:4] == b"RIFF"
    result = [{
        "from_name": "transcription", "to_name": "audio", "type": "textarea",
        "value": {"text": [TRANSCRIPT]},
    }]  # fmt: skip
    client.post(f"/api/tasks/{task['id']}/annotations/", json={"result": result}).raise_for_status()
    return str(task["id"]), time.perf_counter() - start


@dataclass
class Overheard:
    """A running Overheard server, its seeded state and signed-in clients."""

    proc: subprocess.Popen[bytes]
    platform: Platform
    home: tuple[str, str]
    clips: list[np.ndarray]
    made: list[bytes]
    clients: list[ReviewClient]


def start_overheard_loop(
    url: str, data_dir: Path, clips: list[np.ndarray], clients: int
) -> Overheard:
    """Overheard as ``review_loop`` runs it: accounts, a household, disguised clips, signed-in clients."""
    settings = Settings(data_dir=data_dir, database_url=url, workers=0).resolved()
    initialise(settings)
    platform = Platform.open(settings)
    team = make_accounts(platform, clients)
    home = make_household(platform)
    made = disguised(clips)
    os.environ.update(EXTRA_ENV)
    proc, base = start_overheard(settings)
    try:
        clients = [sign_in(base, a) for a in team]
    except BaseException:
        stop(proc)
        platform.close()
        raise
    return Overheard(proc, platform, home, clips, made, clients)


def sign_in(url: str, account: Account, tries: int = 5) -> ReviewClient:
    """A signed-in client, one sign-in at a time, retried (a loaded machine may refuse one)."""
    for attempt in range(tries):
        client = ReviewClient(url, timeout_s=60)
        try:
            client.sign_in(account.pseudonym, account.password, account.totp_secret)
            return client
        except ReviewHttpError as exc:
            client.close()
            if attempt == tries - 1:
                raise
            wait = 31 if "mfa" in str(exc) else 5  # a used TOTP code is refused until the next step
            print(f"(sign-in refused: HTTP {exc.status} on {exc}; again in {wait} s)", flush=True)
            time.sleep(wait)
    raise AssertionError("unreachable")


FAILURES = (httpx.HTTPError, ReviewHttpError)
"""A cycle failing with one of these is counted and the client goes on."""


def run_overheard(ovh: Overheard, n: int, seconds: float) -> Level:
    """One level of Overheard's loop on fresh tasks."""
    seed(ovh.platform, ovh.home, ovh.clips, ovh.made, int(TASKS_PER_S * seconds))
    level = run_level(lambda i: cycle(ovh.clients[i]), n, seconds, ovh.proc.pid, FAILURES)
    _drain(ovh.platform)
    return level


def run_label_studio(studio: LabelStudio, n: int, seconds: float) -> Level:
    """One level of Label Studio's loop on a fresh project."""
    project = ls_seed(studio, int(TASKS_PER_S * seconds))
    clients = [ls_client(studio, i) for i in range(n)]

    def loop(i: int) -> tuple[str, float] | None:
        return ls_cycle(clients[i], project)

    try:
        return run_level(loop, n, seconds, studio.proc.pid, FAILURES)
    finally:
        for c in clients:
            c.close()


def row(tool: str, name: str, level: Level) -> tuple[str, ...]:
    """A printed row."""
    per_cycle_ms = 1000 * level.cpu_s / max(level.cycles, 1)
    p50 = f"{statistics.median(level.latencies) * 1000:.1f}" if level.latencies else "-"
    return (
        tool, name, str(level.clients), f"{level.cycles / level.seconds:,.1f}", p50,
        f"{pct(level.latencies, 0.99) * 1000:.1f}", str(level.cycles), str(level.duplicates),
        f"{per_cycle_ms:.1f}", f"{level.rss_mb:.0f}",
    )  # fmt: skip


def paired(tmp: Path, wanted: set[str]) -> Iterator[tuple[str, str, str]]:
    """``(database, Overheard URL, Label Studio URL)``: a database of its own for each tool."""
    for name, url in databases(tmp / "overheard", wanted):
        (tmp / "overheard").mkdir(exist_ok=True)
        for _, other in databases(tmp / "label-studio", {name}):
            yield name, url, other


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server started here and wait for it."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench(args: argparse.Namespace, tmp: Path, venv: Path | None) -> list[tuple[str, ...]]:
    """Rows for every database, level and tool."""
    clips = real_clips(args.data, CLIPS)
    wavs = write_wavs(clips, tmp / "wavs")
    levels = [int(x) for x in args.levels.split(",")]
    rows: list[tuple[str, ...]] = []
    for d, (name, url, ls_url) in enumerate(paired(tmp, set(args.databases.split(",")))):
        ovh = start_overheard_loop(url, tmp / "overheard" / name, clips, max(levels))
        studio = None
        try:
            if venv is not None:
                data_dir = tmp / "label-studio" / name
                data_dir.mkdir(parents=True, exist_ok=True)
                studio = start_label_studio(venv, ls_env(data_dir, ls_url), max(levels), wavs)
            for k, n in enumerate(levels):
                order = ["overheard", "label-studio"][:: 1 if (k + d) % 2 == 0 else -1]
                for tool in order:
                    if tool == "overheard":
                        level = run_overheard(ovh, n, args.seconds)
                    elif studio is not None:
                        level = run_label_studio(studio, n, args.seconds)
                    else:
                        continue
                    rows.append((*row(tool, name, level), str(level.failed)))
                    print(" | ".join(rows[-1]), f"(load {load_average()})", flush=True)
        finally:
            for client in ovh.clients:
                client.close()
            stop(ovh.proc)
            ovh.platform.close()
            if studio is not None:
                stop(studio.proc)
    return rows


def ratios(rows: list[tuple[str, ...]]) -> list[str]:
    """Overheard ÷ Label Studio cycles/s per database and level, beside issue 13's goal."""
    by = {(r[0], r[1], r[2]): r for r in rows}
    lines = []
    for (tool, db, n), r in by.items():
        other = by.get(("label-studio", db, n))
        if tool != "overheard" or other is None:
            continue
        ratio = float(r[3].replace(",", "")) / max(float(other[3].replace(",", "")), 1e-9)
        p99 = float(r[5])
        verdict = ""
        if n == "8":
            met = ratio >= 10 and p99 <= 100 and r[7] == "0"
            verdict = f"  goal ≥ 10×, p99 ≤ 100 ms, 0 dup: {'met' if met else 'NOT met'}"
        lines.append(
            f"{db:>10} {n:>3} clients: Overheard ÷ Label Studio = {ratio:5.1f}×  (p99 {p99:.0f} ms){verdict}"
        )
    return lines


def main() -> None:
    """Run both tools on every database and print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-studio-venv", type=Path, default=Path("/tmp/ls-venv"))
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each level per tool")
    parser.add_argument(
        "--levels", default="1,8", help="comma-separated client counts (50 optional)"
    )
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    venv: Path | None = args.label_studio_venv
    if venv is None or not (venv / "bin" / "label-studio").exists():
        print(f"(Label Studio skipped: no {venv}/bin/label-studio; only Overheard runs)")
        venv = None
    else:
        version = ls_version(venv)
        note = (
            "" if version == WANTED_VERSION else f" (not {WANTED_VERSION}, which is the reference)"
        )
        print(f"Label Studio {version}{note} from {venv}")
    print(f"load average at start: {load_average()}  ({os.cpu_count()} CPUs)")
    header = (
        "tool",
        "database",
        "clients",
        "cycles/s",
        "p50 ms",
        "p99 ms",
        "cycles",
        "dup",
        "CPU ms/cycle",
        "RSS MB",
        "failed",
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench(args, Path(tmp), venv)
        shutil.rmtree(Path(tmp) / "wavs", ignore_errors=True)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for line in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))
    print()
    for line in ratios(rows):
        print(line)
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
