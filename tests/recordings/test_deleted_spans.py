"""A clip captured in a span the household deleted and uploaded afterwards is refused (410), on
SQLite and PostgreSQL, without an extra statement on the upload's path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from overheard.db import transaction
from overheard.errors import Gone
from overheard.households import Device, Household
from overheard.recordings import deletion, erased
from overheard.recordings.ingest import admit, ingest
from overheard.recordings.models import Recording
from tests.conftest import tone_wav
from tests.statements import statements

MICRO = timedelta(microseconds=1)


def upload(client, token: str, captured: datetime):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/utterances",
        content=tone_wav(),
        headers={"Authorization": f"Bearer {token}", "X-Captured-At": captured.isoformat()},
    )


def stored(platform) -> tuple[set[str], set[str]]:
    """The recording ids and audio blobs there are."""
    with platform.sessions() as s:
        ids = set(s.scalars(select(Recording.id)))
    return ids, {b.key for b in platform.blobs.list("audio/")}


def assert_refused(client, platform, token: str, captured: datetime) -> None:
    before = stored(platform)
    late = upload(client, token, captured)
    assert late.status_code == 410, late.text
    assert late.json()["error"] == {
        "code": "deleted",
        "message": "captured within a time the household deleted",
    }
    assert stored(platform) == before


def test_a_backlog_sent_after_a_range_deletion_does_not_bring_the_range_back(
    client, platform, make_household
):
    hh = make_household()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    end = start + timedelta(hours=1)
    kept = [upload(client, hh.device_token, at).json()["id"] for at in (start - MICRO, end)]
    gone = upload(client, hh.device_token, start + timedelta(minutes=30)).json()["id"]
    deletion.delete_range(platform, hh.household_id, start, end, actor="customer")
    assert stored(platform)[0] == set(kept)
    for inside in (start, start + timedelta(minutes=30), end - MICRO):
        assert_refused(client, platform, hh.device_token, inside)
    for outside in (start - MICRO, end):
        assert upload(client, hh.device_token, outside).status_code == 201
    ids = stored(platform)[0]
    assert set(kept) < ids and gone not in ids and len(ids) == 4


def test_a_backlog_sent_after_delete_everything_i_said_today_does_not_bring_the_day_back(
    client, platform, make_household
):
    hh = make_household()
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)  # the household is on UTC
    command_id = upload(client, hh.device_token, now - timedelta(seconds=1)).json()["id"]
    yesterday = upload(client, hh.device_token, midnight - MICRO).json()["id"]
    with platform.sessions() as s:
        command = s.get(Recording, command_id)
    deletion.delete_today(platform, command)
    for inside in (midnight, now - timedelta(seconds=2)):
        assert_refused(client, platform, hh.device_token, inside)
    after = upload(client, hh.device_token, datetime.now(UTC))  # said after the deletion
    assert after.status_code == 201, after.text
    assert stored(platform)[0] == {yesterday, after.json()["id"]}


def test_an_upload_admitted_before_a_range_deletion_and_committed_after_it_is_refused(
    platform, make_household
):
    """The span is read again in the upload's commit (the key check it already makes)."""
    hh = make_household()
    said = datetime.now(UTC) - timedelta(minutes=10)
    admitted = admit(platform, hh.device_token, datetime.now(UTC))
    deletion.delete_range(platform, hh.household_id, said - timedelta(minutes=1), said,
                          actor="customer")  # fmt: skip
    with platform.sessions() as s:
        device = s.get(Device, hh.device_id)
    before = stored(platform)
    with pytest.raises(Gone, match="within a time the household deleted"):
        ingest(platform, device, tone_wav(), captured_at=said - MICRO, admitted=admitted)
    assert stored(platform) == before


def test_a_deleted_span_costs_an_upload_no_statement(client, platform, make_household):
    plain, spanned = make_household(), make_household()
    old = datetime.now(UTC) - timedelta(days=2)
    for i in range(erased.SPANS_MAX + 3):
        at = old + timedelta(minutes=2 * i)
        deletion.delete_range(platform, spanned.household_id, at, at + timedelta(minutes=1),
                              actor="customer")  # fmt: skip
    seen = []
    for hh in (plain, spanned, plain, spanned):
        with statements() as sent:
            assert upload(client, hh.device_token, datetime.now(UTC)).status_code == 201
        seen.append(len(sent))
    assert seen[2] == seen[3], seen  # the first of each may warm caches


def test_spans_are_merged_bounded_and_dropped_before_delete_everything():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    h = timedelta(hours=1)
    assert erased.merged([(t0 + h, t0 + 2 * h), (t0, t0 + h), (t0 + 3 * h, t0 + 4 * h)]) == [
        (t0, t0 + 2 * h),
        (t0 + 3 * h, t0 + 4 * h),
    ]
    assert erased.merged([(t0, t0 + h), (t0 + 2 * h, t0 + 3 * h)], floor=t0 + h) == [
        (t0 + 2 * h, t0 + 3 * h)
    ]
    many = [(t0 + i * 3 * h, t0 + i * 3 * h + h) for i in range(erased.SPANS_MAX)]
    many.append((many[-1][1] + timedelta(minutes=1), many[-1][1] + h))  # nearly touches the last
    bounded = erased.merged(many)
    assert len(bounded) == erased.SPANS_MAX
    assert bounded[-1] == (many[-2][0], many[-1][1])  # the closest pair was joined
    assert bounded[:-1] == many[:-2]


def test_a_clip_past_its_households_retention_when_it_arrives_is_refused(
    client, platform, make_household
):
    """The retention sweep would delete it on its next run; until then it would be listed,
    processed and sampled for review."""
    from overheard.db import transaction
    from overheard.households import Household

    hh = make_household()
    with transaction(platform.sessions) as s:
        s.get_one(Household, hh.household_id).retention = "24_hours"
    before = stored(platform)
    late = upload(client, hh.device_token, datetime.now(UTC) - timedelta(hours=24, minutes=1))
    assert late.status_code == 410, late.text
    assert late.json()["error"]["code"] == "deleted"
    assert stored(platform) == before
    kept = upload(client, hh.device_token, datetime.now(UTC) - timedelta(hours=23, minutes=59))
    assert kept.status_code == 201, kept.text


def test_delete_everything_i_said_today_carried_out_the_next_day_leaves_that_day_alone(
    client, platform, make_household
):
    """The "today" is the command's local day: a command said late in the evening and carried out
    after midnight (an offline device, an undo period, a slow queue) deletes that day only."""
    hh = make_household()
    with transaction(platform.sessions) as s:
        s.get_one(Household, hh.household_id).timezone = "Europe/Berlin"
    now = datetime.now(UTC).replace(microsecond=0)
    berlin = now.astimezone(ZoneInfo("Europe/Berlin"))
    midnight = berlin.replace(hour=0, minute=0, second=0).astimezone(UTC)  # today's, in Berlin
    if now - midnight < timedelta(minutes=10):
        now = midnight + timedelta(minutes=10)  # a clip of "today" lies before ``now``
    command_id = upload(client, hh.device_token, midnight - timedelta(minutes=5)).json()["id"]
    evening = upload(client, hh.device_token, midnight - timedelta(minutes=7)).json()["id"]
    morning = upload(client, hh.device_token, midnight + timedelta(minutes=3)).json()["id"]
    with platform.sessions() as s:
        command = s.get_one(Recording, command_id)
    receipt = deletion.delete_today(platform, command, now=now)
    assert stored(platform)[0] == {morning}
    day_before = berlin.replace(hour=0, minute=0, second=0) - timedelta(days=1)
    assert datetime.fromisoformat(receipt.body["scope"]["since"]) == day_before
    assert_refused(client, platform, hh.device_token, midnight - MICRO)
    later = upload(client, hh.device_token, midnight + timedelta(minutes=4))  # said the next day
    assert later.status_code == 201, later.text
    assert evening not in stored(platform)[0]
