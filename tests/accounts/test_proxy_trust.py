"""The Secure flag and the client address come from the connection, or from a configured proxy."""

from __future__ import annotations

import pytest

from overheard.accounts.web import GENERIC_FAILURE
from tests.accounts.conftest import make_client, password_step, tune
from tests.accounts.test_sessions import set_cookie_headers


def pre_cookie(client) -> str:
    page = client.get("/login")
    (header,) = [h for h in set_cookie_headers(page) if h.startswith("overheard_csrf=")]
    return header.lower()


@pytest.mark.parametrize(
    ("base_url", "address", "secure"),
    [
        ("http://localhost", "127.0.0.1", False),
        ("http://127.0.0.1:8000", "127.0.0.1", False),
        ("http://[::1]", "::1", False),
        ("http://127.0.0.1.nip.io", "127.0.0.1", True),  # a public name that starts with "127."
        ("http://127.0.0.1", "192.0.2.7", True),  # a remote peer naming a loopback host
        ("http://overheard.example", "127.0.0.1", True),  # a local proxy forwarding a real name
        ("https://localhost", "127.0.0.1", True),
    ],
)
def test_secure_flag_follows_the_connection(platform, clock, base_url, address, secure):
    with make_client(platform, clock, base_url=base_url, address=address) as client:
        assert ("secure" in pre_cookie(client)) is secure


def test_forwarded_for_is_ignored_by_default(platform, clock, make_staff):
    user = make_staff()
    with make_client(platform, clock, address="127.0.0.1") as client:
        tune(client, login_ip_max_attempts=2, login_account_max_attempts=100)
        codes = []
        for i in range(3):
            client.headers["X-Forwarded-For"] = f"198.51.100.{i}"
            codes.append(password_step(client, user, "wrong password!!").status_code)
        assert codes == [401, 401, 429]
    with make_client(platform, clock, base_url="http://localhost", address="127.0.0.1") as local:
        local.headers["X-Forwarded-Proto"] = "https"
        assert "secure" not in pre_cookie(local)  # the header is not believed from anyone


def test_forwarded_headers_believed_from_a_configured_proxy(platform, clock, make_staff):
    platform.settings = platform.settings.model_copy(update={"forwarded_allow_ips": "192.0.2.9"})
    user = make_staff()
    with make_client(platform, clock, base_url="http://localhost", address="192.0.2.9") as proxy:
        proxy.headers["X-Forwarded-Proto"] = "https"
        assert "secure" in pre_cookie(proxy)
    with make_client(platform, clock, address="192.0.2.9") as proxy:
        tune(proxy, login_ip_max_attempts=2, login_account_max_attempts=100)
        proxy.headers["X-Forwarded-For"] = "198.51.100.1"
        first = [password_step(proxy, user, "wrong password!!").status_code for _ in range(3)]
        assert first == [401, 401, 429]  # counted against the forwarded client
        proxy.headers["X-Forwarded-For"] = "198.51.100.2"
        assert password_step(proxy, user, "wrong password!!").status_code == 401
    with make_client(platform, clock, address="127.0.0.1") as other:
        other.headers["X-Forwarded-For"] = "198.51.100.1"
        tune(other, login_ip_max_attempts=2)
        limited = password_step(other, user, "wrong password!!")
        assert limited.status_code == 401 and GENERIC_FAILURE in limited.text  # not the proxy
