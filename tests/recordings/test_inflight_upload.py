"""What happens to the household while an upload's body is still arriving is checked again in the
transaction that stores it, on SQLite and PostgreSQL: the route reads the device, the key and the
Idempotency-Key's tombstone before the body (``ingest.admit``), and a device may be revoked, or
the clip it re-sends deleted, in the seconds the body takes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
from sqlalchemy import func, select

from overheard.db import transaction
from overheard.households import revoke_device
from overheard.recordings.deletion import delete_everything, delete_recordings
from overheard.recordings.models import Recording
from overheard.web import create_app
from tests.conftest import tone_wav
from tests.recordings.test_ingest_api import auth

URL = "http://overheard.test/api/v1/utterances"


def stored(platform) -> tuple[int, int]:
    """Recording rows and audio blobs."""
    with platform.sessions() as s:
        rows = s.scalar(select(func.count()).select_from(Recording))
    return rows, len(list(platform.blobs.list("audio/")))


async def _body(wav: bytes, meanwhile: Callable[[], object]) -> AsyncIterator[bytes]:
    """The body in two halves; ``meanwhile`` runs after the first (the route has admitted it)."""
    yield wav[: len(wav) // 2]
    await meanwhile()  # type: ignore[misc]
    yield wav[len(wav) // 2 :]


def _send(platform, headers: dict[str, str], meanwhile) -> httpx.Response:  # type: ignore[no-untyped-def]
    """Upload a clip through the ASGI app, the body streamed, ``meanwhile`` awaited in between."""
    app = create_app(platform, run_workers=False)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
            async def between() -> None:
                await meanwhile(http)

            return await http.post(URL, content=_body(tone_wav(), between), headers=headers)

    return asyncio.run(go())


def test_a_device_revoked_while_its_body_arrives_stores_nothing(platform, make_household):
    """Before, the upload was stored (201) in the name of a device revoked seconds earlier."""
    hh = make_household()

    async def revoke(_http: httpx.AsyncClient) -> None:
        def run() -> None:
            with transaction(platform.sessions) as s:
                revoke_device(s, hh.device_id)

        await asyncio.to_thread(run)

    answer = _send(platform, auth(hh.device_token), revoke)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "invalid_token"
    assert stored(platform) == (0, 0)


def test_everything_deleted_while_a_body_arrives_stores_nothing(platform, make_household):
    """The household's key is replaced meanwhile: the upload is refused and its blob removed."""
    hh = make_household()

    async def delete_all(_http: httpx.AsyncClient) -> None:
        await asyncio.to_thread(delete_everything, platform, hh.household_id, actor="customer")

    answer = _send(platform, auth(hh.device_token), delete_all)
    assert answer.status_code in (410, 503), answer.text
    assert stored(platform) == (0, 0)


def test_a_clip_deleted_while_its_first_sending_arrives_is_not_stored_again(
    platform, make_household
):
    """A device sends a clip, gives up waiting and sends it again with the same Idempotency-Key;
    the second sending is stored, the household deletes it, and then the first sending's body
    completes. Before, it was stored (201): the deleted clip was back, under a new id."""
    hh = make_household()
    headers = {**auth(hh.device_token), "Idempotency-Key": "clip-7"}

    async def resend_and_delete(http: httpx.AsyncClient) -> None:
        again = await http.post(URL, content=tone_wav(), headers=headers)
        assert again.status_code == 201, again.text
        rid = again.json()["id"]
        await asyncio.to_thread(
            delete_recordings, platform, hh.household_id, [rid], actor="customer",
            scope={"kind": "one"},
        )  # fmt: skip

    answer = _send(platform, headers, resend_and_delete)
    assert answer.status_code == 410, answer.text
    assert answer.json()["error"]["code"] == "deleted"
    assert stored(platform) == (0, 0)


def test_a_sending_committing_while_its_clip_is_being_deleted_waits_and_is_refused(
    platform, make_household
):
    """The same race with the deletion still open (its rows deleted, not yet committed) when the
    first sending commits: the commit waits for it (PostgreSQL: the stored clip's row
    ``FOR SHARE`` against the deletion's lock; SQLite: the write lock) and then finds the
    tombstone. Reading the tombstone alone is not enough on PostgreSQL: the uncommitted
    tombstone is invisible, the sending takes the audit chain's lock and its INSERT then waits on
    the unique key for the deletion, which waits for the audit chain's lock: PostgreSQL found the
    deadlock and aborted one of the two (the deletion, when this was tried without the hold)."""
    import threading

    from sqlalchemy import event

    from overheard.db import utcnow
    from overheard.errors import Gone
    from overheard.recordings.ingest import admit, ingest

    hh = make_household()
    first = admit(platform, hh.device_token, utcnow(), "clip-9")  # before the second sending
    again = ingest(platform, first.device, tone_wav(), idempotency_key="clip-9")
    deleted_rows, go = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def pause(_conn, _cursor, statement: str, *_rest: object) -> None:
        deleting_now = threading.current_thread().name == "deleting"
        if deleting_now and statement.lstrip().upper().startswith("DELETE FROM RECORDINGS"):
            deleted_rows.set()
            assert go.wait(30)

    def send_first() -> None:
        try:
            outcome["stored"] = ingest(
                platform, first.device, tone_wav(), idempotency_key="clip-9", admitted=first
            )
        except Exception as exc:  # the test looks at which
            outcome["refused"] = exc

    deleting = threading.Thread(
        target=delete_recordings,
        args=(platform, hh.household_id, [again.recording.id]),
        kwargs={"actor": "customer", "scope": {"kind": "one"}},
        name="deleting",
    )
    event.listen(platform.engine, "after_cursor_execute", pause)
    try:
        deleting.start()
        assert deleted_rows.wait(30)
        sender = threading.Thread(target=send_first)
        sender.start()
        sender.join(1.0)
        assert sender.is_alive(), outcome  # it waits for the deletion
        go.set()
        deleting.join(30)
        sender.join(30)
    finally:
        go.set()
        event.remove(platform.engine, "after_cursor_execute", pause)
    assert isinstance(outcome.get("refused"), Gone), outcome
    assert stored(platform) == (0, 0)
