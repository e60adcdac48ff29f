"""Approving a model version on the web: a signed-in lead only, with CSRF; lineage on the page."""

from __future__ import annotations

from overheard.accounts.aliases import alias_key, staff_alias
from overheard.db import transaction
from overheard.learn.approval import approve
from overheard.learn.models import VersionState
from overheard.learn.registry import get_version
from overheard.learn.train_nlu import train_nlu
from overheard.learn.training import TrainOptions
from tests.accounts.conftest import (  # noqa: F401 (fixtures)
    clock,
    csrf_of,
    make_staff,
    new_client,
    signed_in,
    web,
)

REQUESTS = [("alexa switch on the porch lights", "lights_on"), ("alexa play some jazz", "music_play")]


def test_a_signed_in_lead_approves_and_nobody_else_can(
    platform, web, signed_in, make_home, make_reviewed, new_client, tmp_path  # noqa: F811
):
    home = make_home()
    for text, intent in REQUESTS:
        make_reviewed(home, text, intent)
    version = train_nlu(platform, TrainOptions(models_dir=tmp_path / "models", actor="t")).version_id
    anonymous = new_client()
    assert anonymous.post(f"/review/lead/models/{version}/approve",
                          follow_redirects=False).status_code in (303, 401, 403)
    signed_in("annotator")
    assert web.get("/review/lead/models").status_code == 403
    web.cookies.clear()
    lead = signed_in("lead")
    shown = web.get("/review/lead/models")
    assert shown.status_code == 200 and version in shown.text and "2 clips" in shown.text
    no_csrf = web.post(f"/review/lead/models/{version}/approve", follow_redirects=False)
    assert no_csrf.status_code == 403
    with platform.sessions() as s:
        assert get_version(s, version).state == VersionState.CANDIDATE
    done = web.post(f"/review/lead/models/{version}/approve",
                    data={"csrf_token": csrf_of(shown.text)}, follow_redirects=False)
    assert done.status_code == 303
    with platform.sessions() as s:
        approved = get_version(s, version)
    assert approved.state == VersionState.APPROVED and approved.approved_by == lead.pseudonym


def test_other_staff_see_the_approving_lead_by_alias_never_by_sign_in_name(
    platform, web, signed_in, make_staff, make_home, make_reviewed, tmp_path  # noqa: F811
):
    """The models page named the lead who approved a version by the name they sign in with, to
    every lead, admin and privacy officer: a name to aim password guesses at."""
    home = make_home()
    for text, intent in REQUESTS:
        make_reviewed(home, text, intent)
    version = train_nlu(platform, TrainOptions(models_dir=tmp_path / "models", actor="t")).version_id
    lead = make_staff("lead")
    with transaction(platform.sessions) as s:
        approve(s, version, lead.id)
    signed_in("admin")
    shown = web.get("/review/lead/models")
    assert shown.status_code == 200 and version in shown.text
    assert lead.pseudonym not in shown.text
    assert staff_alias(alias_key(platform.secrets), lead.pseudonym) in shown.text
