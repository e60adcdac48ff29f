"""A household key that cannot be opened answers a reviewer without naming the household.

"Delete everything" commits the household's new key first, then erases the old key share
(outside the database), then purges the recordings sealed under the old key. A reviewer holding a
lease on one of its clips between the key's commit and the purge's, or on a clip whose share is
gone, is refused (410 ``key_destroyed``): the refusal's words reach the reviewer's page and the
JSON API, so they must not carry the household's pseudonym, nor the share's name (which holds it).
"""

from __future__ import annotations

from overheard.keys import DataKey
from overheard.recordings.deletion import delete_everything, shred_household
from tests.interleave import interleaved
from tests.workbench.conftest import api_csrf


def _share_of(platform, household_id: str) -> str:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        share = s.get_one(DataKey, household_id).share_id
    assert share is not None and household_id in share
    return share


def _refusals(web, lease_id: str) -> list[object]:  # type: ignore[no-untyped-def]
    """What the reviewer is answered: the JSON task, the task page and a fresh claim's page."""
    task = web.get(f"/review/api/task/{lease_id}")
    page = web.get("/review", headers={"Accept": "text/html"})
    return [task, page]


def test_a_removed_key_share_is_refused_without_naming_the_household(
    platform, make_world, staff_client
):  # type: ignore[no-untyped-def]
    world = make_world(1)
    web, _ = staff_client("annotator")
    task = web.post("/review/api/claim", headers=api_csrf(web)).json()["task"]
    share = _share_of(platform, world.household_id)
    # A key row naming a share that is gone (erased by hand, or a lost share folder).
    platform.keyring.shares.destroy(share)
    platform.keyring.forget(world.household_id)

    task_answer, page = _refusals(web, task["lease_id"])

    assert task_answer.status_code == 410
    assert task_answer.json()["error"]["code"] == "key_destroyed"
    assert page.status_code == 410
    for answer in (task_answer, page):
        assert world.household_id not in answer.text and share not in answer.text
        assert world.device_id not in answer.text


def test_a_reviewer_asking_while_everything_is_deleted_is_not_told_the_household(
    platform, make_world, staff_client
):  # type: ignore[no-untyped-def]
    world = make_world(1)
    web, _ = staff_client("annotator")
    task = web.post("/review/api/claim", headers=api_csrf(web)).json()["task"]
    platform.keyring.forget(world.household_id)

    def ask() -> object:
        return web.get(f"/review/api/task/{task['lease_id']}")

    # Asked just before the new key commits: served as before the deletion, or refused.
    with interleaved(platform, ask, at_commit=1, finish_after=True) as answers:
        delete_everything(platform, world.household_id, actor="customer")

    answer = answers[0]
    assert answer.status_code in (200, 409, 410)  # type: ignore[attr-defined]
    assert world.household_id not in answer.text  # type: ignore[attr-defined]


def test_a_clip_of_a_replaced_key_is_refused_as_destroyed_until_it_is_purged(
    platform, make_world, staff_client
):  # type: ignore[no-untyped-def]
    """Between the commit of the new key and the purge's commit, the clip's row is still there,
    sealed under the destroyed generation: refused 410 ``key_destroyed`` (it was an opaque 500
    decryption failure)."""
    world = make_world(1)
    web, _ = staff_client("annotator")
    task = web.post("/review/api/claim", headers=api_csrf(web)).json()["task"]
    shred_household(platform, world.household_id, actor="customer")

    answer, page = _refusals(web, task["lease_id"])

    assert answer.status_code == 410
    assert answer.json()["error"]["code"] == "key_destroyed"
    assert page.status_code == 410
    for each in (answer, page):
        assert world.household_id not in each.text and world.device_id not in each.text
