"""The workbench through the real app: claim on load, submit and skip load the next clip, the page
shows nothing of a clip's origin, and the JSON API runs the same loop."""

from __future__ import annotations

import io
import re

import pytest
import soundfile as sf
from sqlalchemy import select

from overheard.accounts.aliases import alias_key, staff_alias
from overheard.audit import AuditEvent
from overheard.errors import KeyUnavailable
from overheard.review.models import Annotation, EmergencyReport, ReviewTask
from tests.workbench.conftest import CAPTURED, api_csrf, page_fields


@pytest.fixture
def database_url(tmp_path) -> str:
    """These tests run on SQLite only; the queue's concurrency tests cover PostgreSQL too."""
    return f"sqlite:///{tmp_path / 'overheard.db'}"


def test_submit_loads_the_next_clip_until_the_queue_is_empty(platform, make_world, staff_client):
    make_world(2)
    web, user = staff_client("annotator")
    first = page_fields(web.get("/review").text)
    done = web.post(
        "/review/submit",
        data={**first, "transcript": "what is the weather in paris", "intent": "weather",
              "flags": ["not_directed"]},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith("/review?notice=submitted&undo=")
    second_page = web.get(done.headers["location"])
    assert "Saved. Here is the next clip." in second_page.text
    second = page_fields(second_page.text)
    assert second["pseudonym"] != first["pseudonym"]
    skipped = web.post("/review/skip", data={**second, "reason": "cannot_hear"}, follow_redirects=False)
    assert skipped.headers["location"] == "/review?notice=skipped"
    empty = web.get("/review")
    assert empty.status_code == 200 and 'id="queue-empty"' in empty.text
    assert re.search(r'id="shift-clips">1<', empty.text) and re.search(r'id="shift-skips">1<', empty.text)
    with platform.sessions() as s:
        row = s.scalars(select(Annotation)).one()
        assert (row.annotator, row.not_directed, row.sensitive) == (user.pseudonym, True, False)


def test_the_page_shows_no_origin_and_is_keyboard_ready(make_world, staff_client):
    world = make_world(1)
    web, _ = staff_client("annotator")
    html = web.get("/review").text
    for secret in (world.household_id, world.device_id, *world.recording_ids, world.account,
                   world.email, world.serial, CAPTURED.strftime("%Y-%m-%d"), str(CAPTURED.year),
                   CAPTURED.strftime("%B"), CAPTURED.strftime("%H:%M")):
        assert secret not in html, secret
    assert 'id="transcript"' in html and "what is the weather in paris" in html
    assert 'for="intent-filter"' in html and 'aria-label="Intent"' in html
    assert 'for="flag-emergency"' in html and 'autofocus' in html
    audio = re.search(r"<audio[^>]*>", html).group(0)
    assert 'controlslist="nodownload' in audio and not re.search(r"\scontrols[\s>=]", audio)


def test_page_headers_allow_our_script_and_blob_audio_only(make_world, staff_client):
    make_world(1)
    web, _ = staff_client("annotator")
    shown = web.get("/review")
    csp = shown.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "media-src 'self' blob:" in csp and "'unsafe-inline'" not in csp
    assert shown.headers["cache-control"] == "no-store"


def test_audio_is_disguised_wav_not_cached_not_a_download(platform, make_world, staff_client):
    make_world(1)
    web, _ = staff_client("annotator")
    fields = page_fields(web.get("/review").text)
    clip = web.get(fields["audio_url"])
    assert clip.status_code == 200 and clip.headers["content-type"] == "audio/wav"
    assert clip.headers["cache-control"] == "no-store"
    assert clip.headers["content-disposition"] == "inline"
    data, rate = sf.read(io.BytesIO(clip.content))
    assert rate == 16000 and 0.5 < len(data) / rate < 0.8


def test_flags_reach_the_review_hooks(platform, make_world, staff_client):
    make_world(1)
    web, _ = staff_client("annotator")
    fields = page_fields(web.get("/review").text)
    web.post("/review/submit", data={**fields, "transcript": "help", "intent": "none",
                                     "flags": ["emergency", "sensitive"]})
    with platform.sessions() as s:
        assert s.scalars(select(EmergencyReport)).one() is not None
        annotation = s.scalars(select(Annotation)).one()
        assert annotation.emergency and annotation.sensitive


def test_expired_lease_on_submit_goes_on_with_a_notice(clock, make_world, staff_client):
    make_world(1)
    web, _ = staff_client("annotator")
    fields = page_fields(web.get("/review").text)
    clock.advance(301)
    late = web.post("/review/submit", data={**fields, "transcript": "x", "intent": "none"},
                    follow_redirects=False)
    assert late.headers["location"] == "/review?notice=lease_expired"


def test_heartbeat_keeps_the_lease(clock, make_world, staff_client):
    make_world(1)
    web, _ = staff_client("annotator")
    fields = page_fields(web.get("/review").text)
    for _ in range(3):
        clock.advance(200)
        beat = web.post("/review/heartbeat", data={"lease_id": fields["lease_id"]},
                        headers={"X-CSRF-Token": fields["csrf_token"]})
        assert beat.status_code == 200 and beat.json()["expires_in_s"] == 300
    again = page_fields(web.get("/review").text)
    assert again["lease_id"] == fields["lease_id"]


def test_json_api_runs_the_loop(platform, make_world, staff_client):
    make_world(2)
    web, _user = staff_client("annotator")
    headers = api_csrf(web)
    seen = []
    while (task := web.post("/review/api/claim", headers=headers).json()["task"]) is not None:
        shown = web.get(f"/review/api/task/{task['lease_id']}").json()
        assert shown["hypothesis"].startswith("what is the weather") and shown["audio_url"]
        assert web.get(shown["audio_url"]).status_code == 200
        assert set(task) == {"lease_id", "pseudonym", "task_id", "duration_s", "expires_in_s"}
        sent = web.post("/review/api/submit", headers=headers, json={
            "lease_id": task["lease_id"], "transcript": shown["hypothesis"], "intent": "weather"})
        assert sent.json()["submitted"] is True and sent.json()["annotation_id"]
        seen.append(task["pseudonym"])
    assert len(set(seen)) == 2
    stats = web.get("/review/api/stats").json()
    assert stats["shift"]["clips"] == 2 and stats["shift"]["minutes"] > 0
    bad = web.post("/review/api/submit", json={"lease_id": "x", "transcript": "y"})
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "csrf_failed"


def test_json_api_answers_are_never_stored_by_a_cache(make_world, staff_client):
    """The API carries a clip's text (redacted hypothesis, timed words, earlier transcripts) and
    its audio URL: like the page and the audio, no browser or proxy cache may keep it."""
    make_world(2)
    web, _user = staff_client("annotator")
    headers = api_csrf(web)
    claimed = web.post("/review/api/claim?with_task=true", headers=headers)
    task = claimed.json()["task"]
    assert task["hypothesis"]
    answers = {
        "claim": claimed,
        "task": web.get(f"/review/api/task/{task['lease_id']}"),
        "session": web.get("/review/api/session"),
        "stats": web.get("/review/api/stats"),
        "submit": web.post("/review/api/submit", headers=headers, json={
            "lease_id": task["lease_id"], "transcript": task["hypothesis"], "intent": "weather",
            "next": True}),
    }
    assert answers["submit"].json()["next"]["task"]["hypothesis"]
    assert {name: r.headers.get("cache-control") for name, r in answers.items()} == {
        name: "no-store" for name in answers
    }


def test_refusals_of_the_json_api_and_the_audio_are_never_stored_by_a_cache(make_world, staff_client):
    """An error answer of a route that serves clips is no more cacheable than its success: a
    refusal (lease gone, audio link used up, no CSRF token, a bad body) says no-store too."""
    make_world(1)
    web, _user = staff_client("annotator")
    headers = api_csrf(web)
    fields = page_fields(web.get("/review").text)
    answers = {
        "lease_expired": web.post("/review/api/heartbeat", headers=headers, json={"lease_id": "gone"}),
        "task_gone": web.get("/review/api/task/gone"),
        "invalid_request": web.post("/review/api/submit", headers=headers, json={"lease_id": 1}),
        "csrf_failed": web.post("/review/api/skip", json={"lease_id": "x", "reason": "other"}),
        "audio_url_invalid": web.get("/review/audio/not-a-token"),
    }
    for _ in range(4):
        used_up = web.get(fields["audio_url"])
    answers["audio_used_up"] = used_up
    assert all(r.status_code >= 400 for r in answers.values()), {n: r.status_code for n, r in answers.items()}
    assert {name: r.headers.get("cache-control") for name, r in answers.items()} == {
        name: "no-store" for name in answers
    }


def test_bad_intent_or_flag_is_refused(make_world, staff_client):
    make_world(1)
    web, _ = staff_client("annotator")
    headers = api_csrf(web)
    task = web.post("/review/api/claim", headers=headers).json()["task"]
    for body in ({"intent": "DROP TABLE"}, {"flags": ["secret"]}):
        reply = web.post("/review/api/submit", headers=headers,
                         json={"lease_id": task["lease_id"], "transcript": "t", **body})
        assert reply.status_code == 400, body


def test_lead_page_shows_depth_throughput_and_settings(platform, clock, make_world, staff_client):
    make_world(3)
    annotator, user = staff_client("annotator")
    fields = page_fields(annotator.get("/review").text)
    clock.advance(20)
    annotator.post("/review/submit", data={**fields, "transcript": "t", "intent": "none"})
    annotator.get("/review")  # holds the next clip
    lead, _ = staff_client("lead")
    html = lead.get("/review/lead").text
    assert re.search(r'id="depth-queued">1<', html) and re.search(r'id="depth-leased">1<', html)
    assert user.pseudonym not in html  # a colleague's sign-in name is never shown
    alias = staff_alias(alias_key(platform.secrets), user.pseudonym)
    row = re.search(rf"<th scope=\"row\">{alias}</th>(.*?)</tr>", html, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells[:3] == ["1", "180.0", "20"]  # one clip handled in 20 s
    assert "review_sample_rate" in html and "configuration change" in html
    assert re.search(r'id="heard-per-clip">\d+\.\d<', html)  # seconds heard per reviewed clip


def test_lead_adjudicates_a_disagreement(platform, clock, make_world, staff_client):
    from overheard.review.policy import ReviewPolicy

    make_world(1, policy=ReviewPolicy(sample_rate=1.0, household_cap=100, double_share=1.0,
                                      gold_share=0.0))
    answers = iter(["turn on the lights", "play some jazz music now"])
    for _ in range(2):
        web, _ = staff_client("annotator")
        fields = page_fields(web.get("/review").text)
        web.post("/review/submit", data={**fields, "transcript": next(answers), "intent": "none"})
    lead, me = staff_client("lead")
    overview = lead.get("/review/lead").text
    link = re.search(r'href="(/review/lead/adjudications/[^"]+)"', overview).group(1)
    shown = lead.get(link).text
    assert "turn on the lights" in shown and "play some jazz music now" in shown
    audio = re.search(r'data-audio-url="([^"]+)"', shown).group(1)
    assert lead.get(audio).headers["content-type"] == "audio/wav"
    token = re.search(r'name="csrf_token" value="([^"]+)"', shown).group(1)
    done = lead.post(link, data={"csrf_token": token, "choice": "correct",
                                 "transcript": "turn on the lights", "intent": "lights_on"},
                     follow_redirects=False)
    assert done.headers["location"] == "/review/lead?notice=adjudicated"
    with platform.sessions() as s:
        final = s.scalars(select(Annotation).where(Annotation.kind == "adjudication")).one()
        assert final.annotator == me.pseudonym
    assert "No disagreements are waiting." in lead.get("/review/lead").text
    assert lead.get(audio).status_code == 404  # settled: the clip is no longer served


def test_tasks_stay_with_their_annotator(platform, make_world, staff_client):
    make_world(2)
    one, u1 = staff_client("annotator")
    two, u2 = staff_client("annotator")
    a, b = page_fields(one.get("/review").text), page_fields(two.get("/review").text)
    assert a["lease_id"] != b["lease_id"]
    with platform.sessions() as s:
        held = dict(s.execute(select(ReviewTask.lease_id, ReviewTask.leased_to)).all())
    assert held[a["lease_id"]] == u1.pseudonym and held[b["lease_id"]] == u2.pseudonym


def test_full_listen_rule_refuses_a_submit_before_the_clip_could_be_heard(
    platform, clock, make_world, staff_client
):
    platform.settings = platform.settings.model_copy(update={"review_require_full_listen": True})
    make_world(1)
    web, _ = staff_client("annotator")
    html = web.get("/review").text
    assert 'data-require-full="yes"' in html and 'id="listen-rule"' in html
    fields = page_fields(html)
    answer = {**fields, "transcript": "t", "intent": "none"}
    early = web.post("/review/submit", data=answer, follow_redirects=False)
    assert early.headers["location"] == "/review?notice=not_heard"
    clock.advance(1)
    assert web.post("/review/submit", data=answer, follow_redirects=False).headers[
        "location"].startswith("/review?notice=submitted&undo=")


def test_the_serving_limit_answers_429_with_retry_after(platform, make_world, staff_client):
    platform.settings = platform.settings.model_copy(update={"serve_max_replays": 2})
    make_world(1)
    web, _ = staff_client("annotator")
    for _ in range(2):
        audio = page_fields(web.get("/review").text)["audio_url"]
        assert web.get(audio).status_code == 200
    audio = page_fields(web.get("/review").text)["audio_url"]
    limited = web.get(audio)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "serve_rate_limited"
    assert int(limited.headers["retry-after"]) >= 1


def test_the_event_stream_tells_the_page_at_once_when_the_household_withdraws(
    platform, clock, make_world, staff_client
):
    from overheard.db import transaction
    from overheard.review.consent import set_human_review

    world = make_world(1)
    web, _ = staff_client("annotator")
    html = web.get("/review").text
    lease = page_fields(html)["lease_id"]
    events_url = re.search(r'data-events-url="([^"]+)"', html).group(1)
    assert events_url == f"/review/events/{lease}"
    web.app.state.workbench_events_stream_s = 0.3
    quiet = web.get(events_url)
    assert quiet.status_code == 200 and quiet.headers["content-type"].startswith("text/event-stream")
    assert "event: ended" not in quiet.text  # live: nothing to say before the stream recycles
    web.app.state.workbench_events_stream_s = 30.0
    with transaction(platform.sessions) as s:
        set_human_review(s, world.household_id, False, actor="customer", now=clock())
    ended = web.get(events_url)
    assert f'event: ended\ndata: {{"why": "withdrawn", "lease_id": "{lease}"}}' in ended.text
    stranger, _ = staff_client("annotator")
    assert '"why": "ended"' in stranger.get(events_url).text  # never says whose or why to others


def test_lead_asks_for_a_second_annotation_and_makes_gold_from_a_reviewed_clip(
    platform, make_world, staff_client
):
    from overheard.review.models import GoldItem

    world = make_world(1)  # no double share: the second comes only because the lead asks
    first, _ = staff_client("annotator")
    fields = page_fields(first.get("/review").text)
    first.post("/review/submit", data={**fields, "transcript": "what is the weather in paris",
                                       "intent": "weather"})
    lead, _ = staff_client("lead")
    overview = lead.get("/review/lead").text
    for secret in (world.household_id, *world.recording_ids):
        assert secret not in overview
    assert fields["pseudonym"] in overview
    second_form = re.search(r'action="(/review/lead/reviewed/[^"]+/second)"', overview).group(1)
    gold_form = re.search(r'action="(/review/lead/reviewed/[^"]+/gold)"', overview).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', overview).group(1)
    asked = lead.post(second_form, data={"csrf_token": token}, follow_redirects=False)
    assert asked.headers["location"] == "/review/lead?notice=second_asked#reviewed"
    again = lead.post(second_form, data={"csrf_token": token})
    assert again.status_code == 409 and again.json()["error"]["code"] == "second_exists"
    assert "queued" in re.search(r'<tr id="reviewed-[^"]+">(.*?)</tr>', lead.get("/review/lead").text, re.S).group(1)
    # the first annotator never gets the second pass; someone else does
    assert 'id="queue-empty"' in first.get("/review").text
    other, _ = staff_client("annotator")
    assert 'id="queue-empty"' not in other.get("/review").text
    made = lead.post(gold_form, data={"csrf_token": token}, follow_redirects=False)
    assert made.headers["location"] == "/review/lead?notice=gold_made#reviewed"
    assert lead.post(gold_form, data={"csrf_token": token}).status_code == 409
    with platform.sessions() as s:
        assert s.scalars(select(GoldItem)).one().recording_id == world.recording_ids[0]
    bogus = lead.post("/review/lead/reviewed/nosuchannotation/gold", data={"csrf_token": token})
    assert bogus.status_code == 404
    assert first.post(gold_form, data={"csrf_token": token}).status_code == 403


def test_undo_brings_the_last_clip_back_and_frees_the_next(platform, clock, make_world, staff_client):
    from overheard.recordings.models import Recording, SealedText
    from overheard.review.content import annotation_kind, open_answer

    make_world(2)
    web, _ = staff_client("annotator")
    first = page_fields(web.get("/review").text)
    done = web.post("/review/submit", data={**first, "transcript": "what is the weather in paris",
                                            "intent": "weather", "comment": "a dog barks"},
                    follow_redirects=False)
    location = done.headers["location"]
    assert location.startswith("/review?notice=submitted&undo=")
    annotation_id = location.rsplit("=", 1)[1]
    with platform.sessions() as s:
        row = s.get(Annotation, annotation_id)
        rec = s.get(Recording, row.recording_id)
        assert open_answer(s, platform.gate, rec, annotation_kind(row.id), actor="t", purpose="t").comment == "a dog barks"
    second_page = web.get(location).text
    assert 'id="undo-button"' in second_page and f'value="{annotation_id}"' in second_page
    second = page_fields(second_page)
    undone = web.post("/review/undo", data={"csrf_token": second["csrf_token"],
                                            "annotation_id": annotation_id}, follow_redirects=False)
    assert undone.headers["location"] == "/review?notice=undone"
    again = page_fields(web.get("/review?notice=undone").text)
    assert again["pseudonym"] == first["pseudonym"] and again["lease_id"] == first["lease_id"]
    with platform.sessions() as s:
        assert s.get(Annotation, annotation_id) is None
        assert s.scalars(select(SealedText).where(SealedText.kind == annotation_kind(annotation_id))).first() is None
        freed = s.scalars(select(ReviewTask).where(ReviewTask.pseudonym == second["pseudonym"])).one()
        assert (freed.state, freed.leased_to) == ("queued", None)
    other, _ = staff_client("annotator")
    assert page_fields(other.get("/review").text)["pseudonym"] == second["pseudonym"]


def test_undo_is_refused_when_late_or_not_yours(platform, clock, make_world, staff_client):
    make_world(2)
    web, _ = staff_client("annotator")
    fields = page_fields(web.get("/review").text)
    done = web.post("/review/submit", data={**fields, "transcript": "t", "intent": "none"},
                    follow_redirects=False)
    annotation_id = done.headers["location"].rsplit("=", 1)[1]
    stranger, _ = staff_client("annotator")
    refused = stranger.post("/review/api/undo", json={"annotation_id": annotation_id},
                            headers=api_csrf(stranger))
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "undo_not_found"
    clock.advance(301)  # the lease would have ended (lease_s 300)
    late = web.post("/review/api/undo", json={"annotation_id": annotation_id}, headers=api_csrf(web))
    assert late.status_code == 409 and late.json()["error"]["code"] == "undo_refused"
    with platform.sessions() as s:
        assert s.get(Annotation, annotation_id) is not None


def _actions(platform) -> list[str]:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_json_api_runs_the_loop_in_two_requests_a_task(platform, make_world, staff_client):
    make_world(2)
    web, _user = staff_client("annotator")
    headers = api_csrf(web)
    before = len(_actions(platform))
    task = web.post("/review/api/claim?with_task=true", headers=headers).json()["task"]
    seen = []
    while task is not None:
        assert task["hypothesis"].startswith("what is the weather") and task["audio_url"]
        assert {"words", "earlier", "intents", "expires_in_s"} <= set(task)
        assert web.get(task["audio_url"]).status_code == 200
        sent = web.post("/review/api/submit", headers=headers, json={
            "lease_id": task["lease_id"], "transcript": task["hypothesis"], "intent": "weather",
            "next": True}).json()
        assert sent["submitted"] is True and sent["annotation_id"]
        seen.append(task["pseudonym"])
        task = sent["next"]["task"]
    assert len(set(seen)) == 2
    # Each task: claim, its text opened and viewed, its audio opened and served, its answer sealed
    # and submitted, every one audited as with the four-request loop.
    per_task = ["review.claim", "content.open", "text.view", "content.open", "audio.serve"]
    done = _actions(platform)[before:]
    assert done[:5] == per_task and done.count("text.view") == 2 and done.count("audio.serve") == 2
    assert done.count("review.claim") == 2 and sent["next"] == {"task": None}


def test_a_claim_whose_text_cannot_be_opened_still_leases_without_it(
    platform, make_world, staff_client, monkeypatch
):
    make_world(1)
    web, _user = staff_client("annotator")
    headers = api_csrf(web)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise KeyUnavailable("the data key was destroyed")

    monkeypatch.setattr(type(platform.gate), "open_text", refuse)
    task = web.post("/review/api/claim?with_task=true", headers=headers).json()["task"]
    assert task is not None and "audio_url" not in task and "hypothesis" not in task
    shown = web.get(f"/review/api/task/{task['lease_id']}")
    assert shown.status_code == KeyUnavailable.status
    assert "text.view" not in _actions(platform)
    monkeypatch.undo()
    again = web.post("/review/api/claim?with_task=true", headers=headers).json()["task"]
    assert again["lease_id"] == task["lease_id"] and again["audio_url"]


PAGE_SCRIPT = {"Accept": "application/json"}
"""What the page's script sends with the very form a plain browser posts."""


def _form_loop(web, first: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    done = web.post("/review/submit", data={**first, "transcript": "x", "intent": "weather"})
    assert "Saved. Here is the next clip." in done.text  # followed the redirect to the next page


def _script_loop(web, first: dict[str, str]) -> dict:  # type: ignore[no-untyped-def,type-arg]
    reply = web.post("/review/submit", data={**first, "transcript": "x", "intent": "weather"},
                     headers=PAGE_SCRIPT)
    assert reply.status_code == 200 and reply.headers["cache-control"] == "no-store"
    return reply.json()  # type: ignore[no-any-return]


def test_the_pages_script_gets_the_next_clip_with_its_submit_and_the_same_audit(
    platform, make_world, staff_client
):
    make_world(4)
    plain, _ = staff_client("annotator")
    shown = page_fields(plain.get("/review").text)
    before = len(_actions(platform))
    _form_loop(plain, shown)
    with_form = _actions(platform)[before:]
    scripted, _ = staff_client("annotator")
    first = page_fields(scripted.get("/review").text)
    before = len(_actions(platform))
    answer = _script_loop(scripted, first)
    assert _actions(platform)[before:] == with_form  # submit, claim, text opened and viewed
    task = answer["task"]
    assert set(task) == {"lease_id", "pseudonym", "duration", "hypothesis", "words", "earlier",
                         "audio_url", "intents"}  # no task id, no lease expiry: what the page shows
    assert task["pseudonym"] != first["pseudonym"] and task["hypothesis"].startswith("what is the weather")
    assert answer["notice"] == "Saved. Here is the next clip." and answer["undo"]
    assert answer["stats"]["shift-clips"] == "1" and answer["stats"]["total-clips"] == "1"
    assert scripted.get(task["audio_url"]).status_code == 200
    assert plain.get(task["audio_url"]).status_code == 404  # bound to the session that asked
    forged = scripted.post("/review/submit", headers=PAGE_SCRIPT, data={
        "lease_id": task["lease_id"], "transcript": "x", "intent": "weather"})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"


def test_the_pages_script_stays_on_a_refused_answer_and_loads_a_page_at_the_end(
    make_world, staff_client
):
    make_world(1)
    web, _ = staff_client("annotator")
    fields = page_fields(web.get("/review").text)
    bad = web.post("/review/submit", headers=PAGE_SCRIPT,
                   data={**fields, "transcript": "x", "intent": "DROP TABLE"})
    assert bad.json() == {"notice": "an intent is a lower-case label such as weather_query", "stay": True}
    assert page_fields(web.get("/review").text)["lease_id"] == fields["lease_id"]  # still theirs
    end = _script_loop(web, fields)
    assert end == {"load": "/review?notice=submitted"}  # the empty queue's page
    late = web.post("/review/skip", headers=PAGE_SCRIPT, data={**fields, "reason": "cannot_hear"})
    assert late.json() == {"load": "/review?notice=lease_expired"}


def test_without_the_script_a_plain_player_still_plays_the_clip(make_world, staff_client):
    make_world(1)
    web, _ = staff_client("annotator")
    html = web.get("/review").text
    fields = page_fields(html)
    fallback = re.search(r"<noscript>(.*?)</noscript>", html, re.S)
    assert fallback is not None, "no player for a browser without JavaScript"
    plain = re.search(r"<audio[^>]*>", fallback.group(1)).group(0)
    assert f'src="{fields["audio_url"]}"' in plain and re.search(r"\scontrols[\s>=]", plain)
    assert 'controlslist="nodownload' in plain
    assert web.get(fields["audio_url"]).headers["content-type"] == "audio/wav"
