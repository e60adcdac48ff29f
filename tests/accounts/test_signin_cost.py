"""Sign-in cost is bounded: few password checks at once, queued then 503, none inside a write."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from overheard.accounts import passwords
from overheard.db import transaction
from tests.accounts.conftest import password_step, tune


def test_checks_beyond_the_limit_queue_then_get_503(web, make_staff):
    user = make_staff()
    rt = web.app.state.accounts
    tune(web, login_queue_timeout_s=0.2)
    places = rt.settings.login_max_concurrent_checks
    for _ in range(places):
        assert rt.checks.acquire(timeout=1)
    try:
        busy = password_step(web, user)
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "1"
        assert busy.json()["error"]["code"] == "busy"
    finally:
        for _ in range(places):
            rt.checks.release()
    # A check that waits less than the queue time goes through.
    tune(web, login_queue_timeout_s=5.0)
    assert rt.checks.acquire(timeout=1)
    threading.Timer(0.3, rt.checks.release).start()
    for _ in range(places - 1):
        assert rt.checks.acquire(timeout=1)
    try:
        threading.Timer(0.3, rt.checks.release).start()
        assert password_step(web, user).status_code == 303
    finally:
        for _ in range(places - 2):
            rt.checks.release()


def test_busy_page_for_browsers(web, make_staff):
    user = make_staff()
    rt = web.app.state.accounts
    tune(web, login_queue_timeout_s=0)
    held = [rt.checks.acquire(timeout=1) for _ in range(rt.settings.login_max_concurrent_checks)]
    try:
        web.headers["Accept"] = "text/html"
        busy = password_step(web, user)
        assert busy.status_code == 503 and "text/html" in busy.headers["content-type"]
        assert busy.headers["Retry-After"] == "1"
    finally:
        for _ in held:
            rt.checks.release()
        del web.headers["Accept"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_password_check_holds_no_write_transaction(web, make_staff, platform, monkeypatch):
    user = make_staff()
    real = passwords.verify_password
    waited: list[float] = []

    def probe(*args, **kwargs):  # type: ignore[no-untyped-def]
        def write() -> None:
            start = time.monotonic()
            with transaction(platform.sessions) as db:  # BEGIN IMMEDIATE: needs the write lock
                db.execute(text("SELECT 1"))
            waited.append(time.monotonic() - start)

        other = threading.Thread(target=write)
        other.start()
        other.join(timeout=3)
        return real(*args, **kwargs)

    monkeypatch.setattr(passwords, "verify_password", probe)
    assert password_step(web, user, "wrong password!!").status_code == 401
    assert password_step(web, user).status_code == 303
    assert len(waited) == 2 and max(waited) < 1.0


def test_the_check_bound_is_shared_out_among_web_processes():
    """The bound is the server's: two processes of a bound of 2 run one check each, never fewer than one."""
    from overheard.config import Settings

    assert [Settings(login_max_concurrent_checks=2).login_checks_per_web_process(n) for n in (1, 2, 3)] == [2, 1, 1]
    assert Settings(login_max_concurrent_checks=8).login_checks_per_web_process(3) == 2
