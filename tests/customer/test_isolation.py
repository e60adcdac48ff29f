"""A customer only ever reaches their own household; staff never reach /me."""

from __future__ import annotations

import pytest

from overheard.recordings.models import Recording
from tests.accounts.conftest import csrf_of, make_staff, sign_in  # noqa: F401
from tests.customer.conftest import add_recording


def test_another_households_ids_answer_404_everywhere(platform, owner, make_owner):
    intruder = make_owner()
    rec = add_recording(platform, owner.device_id, "call mum")
    receipt = owner.client.get("/me")  # a receipt of the owner's to aim at
    token = csrf_of(receipt.text)
    other_rec = add_recording(platform, owner.device_id, "call dad")
    done = owner.client.post(f"/me/recordings/{other_rec.id}/delete", data={"csrf_token": token, "confirm": "yes"},
                             follow_redirects=False)
    receipt_id = done.headers["location"].rsplit("/", 1)[-1]
    client = intruder.client
    itoken = csrf_of(client.get("/me").text)
    assert client.get(f"/me/recordings/{rec.id}/audio").status_code == 404
    for confirm in ("", "yes"):
        answer = client.post(f"/me/recordings/{rec.id}/delete",
                             data={"csrf_token": itoken, "confirm": confirm})
        assert answer.status_code == 404
    assert client.get(f"/me/receipts/{receipt_id}").status_code == 404
    assert client.get(f"/me/receipts/{receipt_id}/json").status_code == 404
    assert "call mum" not in client.get("/me").text
    with platform.sessions() as s:
        assert s.get(Recording, rec.id) is not None


@pytest.mark.parametrize("path", ["/me", "/me/access", "/me/export", "/me/delete/everything"])
def test_staff_sessions_never_reach_me(platform, clock, path, request):
    from tests.accounts.conftest import make_client

    make = request.getfixturevalue("make_staff")
    user = make("privacy_officer")
    with make_client(platform, clock) as staff:
        sign_in(staff, user, clock)
        answer = staff.get(path, follow_redirects=False)
    assert answer.status_code == 403


def test_strangers_are_sent_to_sign_in(platform, clock):
    from tests.accounts.conftest import make_client

    with make_client(platform, clock) as stranger:
        answer = stranger.get("/me/access", follow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"].startswith("/me/login")


def test_every_receipt_stays_reachable_and_only_its_owner_sees_it(
    platform, owner, make_owner, monkeypatch
):
    from overheard.customer import service

    monkeypatch.setattr(service, "PAGE_SIZE", 5)
    token = csrf_of(owner.client.get("/me").text)
    made = []
    for i in range(12):
        rec = add_recording(platform, owner.device_id, f"turn on lamp {i}")
        done = owner.client.post(f"/me/recordings/{rec.id}/delete",
                                 data={"csrf_token": token, "confirm": "yes"}, follow_redirects=False)
        made.append(done.headers["location"].rsplit("/", 1)[-1])
    dashboard = owner.client.get("/me").text
    assert sum(f"/me/receipts/{r}" in dashboard for r in made) == 10
    assert 'href="/me/receipts"' in dashboard and "All 12 deletion receipts" in dashboard
    listed: list[str] = []
    for page in range(3):
        shown = owner.client.get(f"/me/receipts?page={page}")
        assert shown.status_code == 200 and f"Page {page + 1} of 3" in shown.text
        on_page = [r for r in made if f"/me/receipts/{r}" in shown.text]
        assert len(on_page) == (5, 5, 2)[page]
        listed += on_page
    assert sorted(listed) == sorted(made) and len(listed) == 12
    assert owner.client.get("/me/receipts?page=-1").status_code == 422
    intruder = make_owner().client.get("/me/receipts")
    assert intruder.status_code == 200 and not any(r in intruder.text for r in made)
    assert "All 12" not in make_owner().client.get("/me").text
