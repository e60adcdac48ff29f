"""The review loop's requests send no more SQL than they need: ceilings per request, per database
(and no work they need not do: statements compiled afresh, ORM audit objects, thread-pool hops).

Each ceiling is the count the code sends today, so a statement added back (a second read of the
household's key row or of the rendition's row, a look-up before the watermark's INSERT, …) fails here; lower it when a
request needs fewer. The gold draw's reads (random per claim) are not counted.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import event, select

from overheard import audit
from overheard.workbench import api
from tests.statements import compiled_afresh, statements
from tests.workbench.conftest import api_csrf

CEILINGS = {
    # audio: the session look-up (SQLite: its BEGIN too); one transaction: the lease with its
    # recording, key row and rendition row, serve counts, audit head (+ the audit chain's lock on
    # PostgreSQL), watermark row, audit events; no read after the mark (a removal meanwhile is
    # seen by the analysis cache's drop count). submit: the session look-up; one transaction (the
    # annotator's claim lock on PostgreSQL; the lease's end — no double-check read first for a
    # task that wants no second pass —, the recording with its key row, the sealed answer, the
    # annotation; the next claim with its text; one audit head, its four events in one INSERT).
    # Whether another clip of the household is still unheard by the pipeline (a spoken deletion of
    # this one, not yet understood: ``queue.refuse_unheard``) comes with the audio's lease query,
    # and costs the submit one read for the submitted clip and one for the next clip's text.
    "sqlite": {"audio": 8, "submit": 15},
    "postgresql": {"audio": 7, "submit": 15},
}
"""Statements per request of the two-request loop (``BEGIN IMMEDIATE`` and advisory locks included)."""


def _counted(seen: list[str]) -> list[str]:
    return [s for s in seen if "review_gold" not in s]


def test_the_review_loop_stays_under_its_statement_ceilings(platform, make_world, staff_client):  # type: ignore[no-untyped-def]
    make_world(3)
    web, _user = staff_client("annotator")
    headers = api_csrf(web)
    ceiling = CEILINGS[platform.engine.dialect.name]
    task = web.post("/review/api/claim?with_task=true", headers=headers).json()["task"]
    served = 0
    while task is not None:
        with statements() as audio:
            assert web.get(task["audio_url"]).status_code == 200
        with statements() as submit:
            sent = web.post("/review/api/submit", headers=headers, json={
                "lease_id": task["lease_id"], "transcript": task["hypothesis"], "intent": "weather",
                "next": True}).json()  # fmt: skip
        assert sent["submitted"] is True
        assert len(_counted(audio)) <= ceiling["audio"], audio
        assert len(_counted(submit)) <= ceiling["submit"], submit
        for sent_sql in (audio, submit):
            # the household's key row comes with the recording; a watermark id is drawn by its INSERT
            assert not [s for s in sent_sql if "FROM data_keys WHERE" in s]
            assert not [s for s in sent_sql if s.startswith("SELECT disguised_clips.recording_id")]
            assert not [s for s in sent_sql if s.startswith("SELECT watermarks.id FROM watermarks")]
        served += 1
        task = sent["next"]["task"]
    assert served == 3


def test_a_submit_with_next_claims_in_the_annotations_own_transaction(platform, make_world, staff_client):  # type: ignore[no-untyped-def]
    # One write transaction, one audit chain head (and lock), one INSERT of the four events —
    # review.submit, then the next task's review.claim, content.open and text.view, in that order.
    make_world(3)
    web, _user = staff_client("annotator")
    headers = api_csrf(web)
    task = web.post("/review/api/claim?with_task=true", headers=headers).json()["task"]
    with statements() as submit:
        sent = web.post("/review/api/submit", headers=headers, json={
            "lease_id": task["lease_id"], "transcript": task["hypothesis"], "next": True}).json()  # fmt: skip
    assert sent["next"]["task"]["audio_url"]
    writes = [s for s in submit if s == "BEGIN IMMEDIATE"]
    heads = [s for s in submit if s.startswith("SELECT audit_events.seq, audit_events.entry_hash")]
    chain_locks = [s for s in submit if s.startswith("SELECT pg_advisory_xact_lock(%(id)s")]
    inserts = [s for s in submit if s.startswith("INSERT INTO audit_events")]
    assert len(heads) == 1 and len(inserts) == 1, submit
    assert len(writes) == (platform.engine.dialect.name == "sqlite"), submit
    assert len(chain_locks) == (platform.engine.dialect.name == "postgresql"), submit
    with platform.sessions() as session:
        events = audit.AuditEvent
        last = session.scalars(select(events.action).order_by(events.seq.desc()).limit(4)).all()
        assert audit.verify_chain(session).ok
    assert last[::-1] == ["review.submit", "review.claim", "content.open", "text.view"]


def test_the_review_loop_compiles_no_statement_afresh_once_warm(platform, make_world, staff_client):  # type: ignore[no-untyped-def]
    # Compiling a statement costs more CPU than sending it: every statement of the loop is built
    # once and found in SQLAlchemy's cache from the second task on (the watermark's INSERT was not).
    make_world(3)
    web, _user = staff_client("annotator")
    headers = api_csrf(web)
    task = web.post("/review/api/claim?with_task=true", headers=headers).json()["task"]
    for warm in (False, True, True):
        with compiled_afresh() as compiled:
            assert web.get(task["audio_url"]).status_code == 200
            sent = web.post("/review/api/submit", headers=headers, json={
                "lease_id": task["lease_id"], "transcript": task["hypothesis"], "intent": "weather",
                "next": True}).json()  # fmt: skip
        assert sent["submitted"] is True
        if warm:
            assert _counted(compiled) == [], compiled  # the gold draw is random per claim
        task = sent["next"]["task"]


def test_the_review_loop_audits_every_open_without_orm_audit_objects(platform, make_world, staff_client):  # type: ignore[no-untyped-def]
    # The content opens (the rendition, the hypothesis) and the text view are kept as rows and
    # written with the transaction's other events by one INSERT, as the claim's and serve's are:
    # no AuditEvent is built, added and expunged for them. The same events, the chain intact.
    make_world(2)
    web, user = staff_client("annotator")
    headers = api_csrf(web)
    built: list[object] = []

    def seen(target: object, *_args: object) -> None:
        built.append(target)

    event.listen(audit.AuditEvent, "init", seen)
    try:
        task = web.post("/review/api/claim?with_task=true", headers=headers).json()["task"]
        while task is not None:
            assert web.get(task["audio_url"]).status_code == 200
            sent = web.post("/review/api/submit", headers=headers, json={
                "lease_id": task["lease_id"], "transcript": task["hypothesis"], "intent": "weather",
                "next": True}).json()  # fmt: skip
            task = sent["next"]["task"]
    finally:
        event.remove(audit.AuditEvent, "init", seen)
    assert built == []
    with platform.sessions() as session:
        assert audit.verify_chain(session).ok
        events = audit.AuditEvent
        rows = session.execute(
            select(events.action, events.details).where(events.actor == user.pseudonym)
        ).all()
    opened = sorted(d["kind"] for a, d in rows if a == "content.open")
    assert opened == ["audio.disguised.pcm16"] * 2 + ["hypothesis"] * 2
    assert sum(a == "text.view" for a, _ in rows) == 2
    assert sum(a == "audio.serve" for a, _ in rows) == 2


def test_the_review_api_sends_only_its_routes_to_the_thread_pool() -> None:
    # A plain function among a route's dependencies is run on the thread pool, a hop there and
    # back on every request; only the routes themselves (which read and write the database) need it.
    routes = [r for r in api.router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 5

    def plain(dependant: Any) -> list[str]:
        found = []
        for dep in dependant.dependencies:
            call = dep.call
            method = call if inspect.isfunction(call) else type(call).__call__
            if not inspect.iscoroutinefunction(method):
                found.append(getattr(call, "__name__", repr(call)))
            found += plain(dep)
        return found

    assert {r.path: plain(r.dependant) for r in routes} == {r.path: [] for r in routes}
