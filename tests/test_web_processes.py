"""`overheard serve` with several web processes: sessions, sign-in limits and audio URLs hold across them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pyotp
import pytest

from overheard.accounts import service as accounts
from overheard.accounts.rbac import StaffPrincipal
from overheard.accounts.secrets import AccountKeys
from overheard.accounts.service import staff_principal
from overheard.accounts.settings import AccountSettings
from overheard.db import transaction, utcnow
from overheard.jobs import ForwardingBackend, InProcessBackend, wake_address
from overheard.workbench.client import CSRF_RE, ReviewClient
from tests.conftest import tone_wav
from tests.privacy._world import add_clip, sample
from tests.test_live_server import Server, enrol

PASSWORD = "violet harbour lantern 42"
LIMIT = 4
"""Sign-in attempts one address may make (the whole server, not each process)."""


def enrolled_annotator(platform) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(pseudonym, TOTP secret) of an annotator with a password and a confirmed authenticator."""
    settings = AccountSettings.from_settings(platform.settings)
    keys = AccountKeys.from_secrets(platform.secrets)
    earlier = utcnow() - timedelta(seconds=90)
    with transaction(platform.sessions) as db:
        staff, _ = accounts.create_staff(db, name="Ann", role="annotator", now=earlier)
        accounts.choose_staff_password(db, staff, PASSWORD, settings=settings)
        secret = accounts.pending_totp_secret(db, staff, keys)
        who: StaffPrincipal = staff_principal(staff)
        assert accounts.confirm_totp(db, staff, pyotp.TOTP(secret).at(earlier), keys=keys, who=who, now=earlier)
        return staff.pseudonym, secret


def web_children(pid: int) -> list[int]:
    """The spawned web processes under the server's supervisor."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if parent == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def fresh_connections(url: str) -> httpx.Client:
    """A client that opens a new connection per request, so requests spread over the processes."""
    limits = httpx.Limits(max_keepalive_connections=0)
    return httpx.Client(base_url=url, follow_redirects=False, limits=limits, timeout=30)


HEAVY_PACKAGES = ("scipy", "sklearn", "onnxruntime", "ctranslate2", "openwakeword", "pocketsphinx", "torch")
"""What a web process never needs: speech and ML stacks (tens of MiB each, per process)."""


def heavy_libraries(pid: int) -> set[str]:
    """The HEAVY_PACKAGES a process has mapped (numpy's own ``libscipy_openblas`` is not scipy)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name in HEAVY_PACKAGES if f"/{name}/" in maps or f"/{name}.libs/" in maps}


def test_a_web_process_imports_no_speech_or_ml_stack(tmp_path: Path):
    """What a web process imports to build its app and answer a page: no scipy, no models."""
    data_dir = tmp_path / "data"
    env = {**os.environ, "OVERHEARD_DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}"}
    subprocess.run([sys.executable, "-m", "overheard", "init", "--data-dir", str(data_dir)], env=env, check=True)
    probe = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from overheard.web import web_process_app\n"
        "with TestClient(web_process_app()) as http:\n"
        "    assert http.get('/login').status_code == 200\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env["OVERHEARD_DATA_DIR"] = str(data_dir)
    done = subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True)
    assert set(done.stdout.split()) & set(HEAVY_PACKAGES) == set()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_two_web_processes_share_sessions_limits_and_audio(platform, make_household):  # type: ignore[no-untyped-def]
    clip = add_clip(platform, make_household, seconds=1.0)
    sample(platform, clip)
    pseudonym, secret = enrolled_annotator(platform)
    settings = platform.settings
    server = Server(
        settings.data_dir,
        settings.database_url,
        OVERHEARD_WEB_PROCESSES="2",
        OVERHEARD_WORKERS="0",
        OVERHEARD_LOGIN_IP_MAX_ATTEMPTS=str(LIMIT),
    )
    server.start()
    try:
        assert server.proc is not None and len(web_children(server.proc.pid)) == 2
        reviewer = ReviewClient(server.url)
        reviewer.http.close()
        reviewer.http = fresh_connections(server.url)
        reviewer.sign_in(pseudonym, PASSWORD, secret)  # 3 requests, each on its own connection
        for _ in range(12):
            assert reviewer._json("GET", "/review/api/session")["pseudonym"] == pseudonym
        task = reviewer.claim()
        assert task is not None
        shown = reviewer.task(task["lease_id"])
        assert reviewer.audio(shown["audio_url"])[:4] == b"RIFF"  # minted by one process, redeemed anywhere
        reviewer.submit(task["lease_id"], shown["hypothesis"], intent="none")
        for child in web_children(server.proc.pid):  # a whole review cycle, audio marked and all
            assert heavy_libraries(child) == set()
        with fresh_connections(server.url) as stranger:
            statuses = [wrong_password(stranger, pseudonym) for _ in range(LIMIT + 2)]
        # Failures only count, from any process: the one after the LIMIT-th is refused wherever it
        # lands (a per-process count would let up to 2 x LIMIT through, spread over the processes).
        first = statuses.index(429)
        assert first <= LIMIT and set(statuses[first:]) == {429}
        reviewer.http.close()
    finally:
        server.stop()


def wrong_password(client: httpx.Client, pseudonym: str) -> int:
    """One refused sign-in from the same address; its status."""
    page = client.get("/login")
    token = re.search(CSRF_RE.pattern, page.text)
    assert token is not None
    form = {"username": pseudonym, "password": "not the password", "csrf_token": token.group(1)}
    return client.post("/login", data=form).status_code


@pytest.mark.slow
def test_a_forwarded_enqueue_wakes_the_serve_process_workers(platform):  # type: ignore[no-untyped-def]
    inbox = InProcessBackend(platform, threads=0, listen=wake_address())
    inbox.start()
    try:
        assert not inbox._wake.wait(0.3)  # nothing sent, nothing woken
        web = ForwardingBackend(inbox.listen)
        web.notify("job-1")
        assert inbox._wake.wait(5)
        web.stop()
        web.notify("job-2")  # after close: dropped, never raised
    finally:
        inbox.stop()
    nobody = ForwardingBackend(wake_address())
    nobody.notify("job-3")  # nobody listening: silently dropped
    nobody.stop()


@pytest.mark.slow
def test_jobs_run_in_the_serve_process_alone(tmp_path: Path):
    """An upload to a web process is processed by the workers of the `serve` process; the web
    processes never load the speech models (one copy of them, not one per process)."""
    data_dir, database_url = tmp_path / "data", f"sqlite:///{tmp_path / 'o.db'}"
    env = {**os.environ, "OVERHEARD_DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "overheard", "init", "--data-dir", str(data_dir)], env=env, check=True)
    token = enrol(data_dir, database_url)
    server = Server(data_dir, database_url, OVERHEARD_WEB_PROCESSES="2", OVERHEARD_WORKERS="1")
    server.start()
    try:
        assert server.proc is not None
        with fresh_connections(server.url) as device:
            device.headers["Authorization"] = f"Bearer {token}"
            sent = device.post("/api/v1/utterances", content=tone_wav(1.5))
            assert sent.status_code == 201, sent.text
            status, deadline = "received", time.monotonic() + 300
            while status == "received" and time.monotonic() < deadline:
                time.sleep(0.5)
                status = device.get(f"/api/v1/utterances/{sent.json()['id']}").json()["status"]
        assert status != "received"
        children = web_children(server.proc.pid)
        assert len(children) == 2
        assert b"onnxruntime" in Path(f"/proc/{server.proc.pid}/maps").read_bytes()  # the wake model ran here
        for child in children:
            assert heavy_libraries(child) == set()
    finally:
        server.stop()
