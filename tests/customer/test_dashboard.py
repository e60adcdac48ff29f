"""The /me dashboard: recordings with review history, playback, access transparency, consent."""

from __future__ import annotations

import io
import wave
from datetime import timedelta

import pytest
from sqlalchemy import select

from overheard import audit
from overheard.accounts.aliases import alias_code, alias_key, staff_alias
from overheard.audit import AuditEvent
from overheard.db import transaction
from overheard.households import Household
from overheard.review.models import ReviewTask
from tests.accounts.conftest import START, make_staff, submit  # noqa: F401
from tests.customer.conftest import add_recording


def add_task(platform, rec, *, state: str, reason: str = "random", done_by: str | None = None):
    with transaction(platform.sessions) as s:
        task = ReviewTask(
            id=rec.id[:16] + state[:4],
            pseudonym=f"C-{rec.id[:12]}",
            recording_id=rec.id,
            household_id=rec.household_id,
            reason=reason,
            state=state,
            duration_s=rec.duration_s,
            created_at=START - timedelta(minutes=30),
            done_by=done_by,
            done_at=START - timedelta(minutes=20) if done_by else None,
        )
        s.add(task)
    return task


def events(platform, **where) -> list[AuditEvent]:
    with platform.sessions() as s:
        query = select(AuditEvent)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list(s.scalars(query))


def test_dashboard_shows_transcript_intent_and_who_reviewed_why(platform, owner):
    rec = add_recording(platform, owner.device_id, "turn on the kitchen lights", intent="lights_on")
    add_task(platform, rec, state="done", reason="low_confidence", done_by="R-7f3a")
    page = owner.client.get("/me")
    assert page.status_code == 200
    html = page.text
    alias = staff_alias(alias_key(platform.secrets), "R-7f3a", scope=owner.household_id)
    for shown in ("turn on the kitchen lights", "lights_on", "low_confidence", alias, rec.id):
        assert shown in html
    assert "R-7f3a" not in html  # the reviewer's sign-in name is never shown
    assert "media-src 'self'" in page.headers["content-security-policy"]
    opens = events(platform, action="content.open", subject=rec.id)
    assert {(e.actor, e.reason) for e in opens} == {(f"customer:{owner.account_id}", "owner_view")}
    assert {e.details["kind"] for e in opens} == {"hypothesis", "intent"}


def test_playback_is_the_owners_audio_as_wav_never_cached(platform, owner):
    rec = add_recording(platform, owner.device_id, "play some jazz", seconds=0.5)
    answer = owner.client.get(f"/me/recordings/{rec.id}/audio")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "audio/wav"
    assert answer.headers["cache-control"] == "no-store"
    with wave.open(io.BytesIO(answer.content)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (16000, 1, 8000)
    played = events(platform, action="content.open", reason="owner_playback")
    assert [e.subject for e in played] == [rec.id]


def test_access_log_shows_everyone_who_touched_the_data_and_nothing_else(
    platform, owner, make_owner
):
    other = make_owner()
    rec = add_recording(platform, owner.device_id, "what time is it")
    with transaction(platform.sessions) as s:
        audit.append(s, actor="staff:R-9c1d", action="identity.break_glass",
                     subject=owner.household_id, household_id=owner.household_id,
                     reason="legal request 2026-17")
        audit.append(s, actor="staff:R-0000", action="identity.break_glass",
                     subject=other.household_id, household_id=other.household_id,
                     reason="someone else's")
    page = owner.client.get("/me/access").text
    code = alias_code(alias_key(platform.secrets), "R-9c1d", scope=owner.household_id)
    assert f"Staff {code}" in page and "looked up who you are" in page and "legal request" in page
    assert "R-9c1d" not in page  # the sign-in name is never shown
    assert "Your device" in page and "sent a recording" in page
    assert f'href="/me?page=0#rec-{rec.id}"' in page
    assert f"recording of {rec.captured_at:%Y-%m-%d %H:%M:%S}" in page
    assert "R-0000" not in page and other.household_id not in page
    assert "what time is it" not in page
    assert "identity.break_glass" not in page and "recording.ingest" not in page


def test_access_log_folds_the_owners_own_visits_and_filters(platform, owner, make_staff):  # noqa: F811
    recs = [add_recording(platform, owner.device_id, f"set a timer {i}") for i in range(3)]
    reviewer = make_staff(role="annotator")
    with transaction(platform.sessions) as s:
        audit.append(s, actor=reviewer.pseudonym, action="audio.serve", subject=recs[0].id,
                     household_id=owner.household_id, reason="review.serve")
    before = len(events(platform, household_id=owner.household_id))
    for _ in range(2):
        assert owner.client.get("/me").status_code == 200
    assert len(events(platform, household_id=owner.household_id)) == before + 12
    page = owner.client.get("/me/access").text
    assert page.count("viewed your dashboard (12 transcript reads)") == 1
    shown = alias_code(alias_key(platform.secrets), reviewer.pseudonym, scope=owner.household_id)
    assert f"Annotator {shown}" in page and reviewer.pseudonym not in page
    assert "sent a disguised, watermarked clip to a reviewer" in page
    staff_only = owner.client.get("/me/access?show=staff").text
    assert f"Annotator {shown}" in staff_only
    assert "viewed your dashboard" not in staff_only and "Your device" not in staff_only
    bad = owner.client.get("/me/access?show=everything")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_filter"


def test_turning_review_off_withdraws_open_tasks_at_once(platform, owner):
    with transaction(platform.sessions) as s:
        s.get(Household, owner.household_id).human_review = True
    rec = add_recording(platform, owner.device_id, "set a timer")
    add_task(platform, rec, state="queued")
    shown = owner.client.get("/me").text
    assert "Turn human review off" in shown
    done = submit(owner.client, "/me", "/me/review", human_review="off")
    assert done.status_code == 303
    assert "Saved: human review is off" in owner.client.get(done.headers["location"]).text
    with platform.sessions() as s:
        assert s.get(Household, owner.household_id).human_review is False
        states = set(s.scalars(select(ReviewTask.state).where(ReviewTask.recording_id == rec.id)))
    assert states == {"withdrawn"}
    assert "Turn human review on" in owner.client.get("/me").text
    [consent] = events(platform, action="review.consent", household_id=owner.household_id)
    assert consent.actor == f"customer:{owner.account_id}" and consent.reason == "off"


def test_retention_choice_is_saved_and_audited(platform, owner):
    saved = submit(owner.client, "/me", "/me/retention", retention="3_months")
    assert saved.status_code == 303
    shown = owner.client.get(saved.headers["location"]).text  # the owner is told it was saved
    assert 'id="notice">Saved: how long your recordings are kept.<' in shown
    with platform.sessions() as s:
        assert s.get(Household, owner.household_id).retention == "3_months"
    bad = submit(owner.client, "/me", "/me/retention", retention="forever")
    assert bad.status_code == 400
    assert [e.reason for e in events(platform, action="household.retention")] == ["3_months"]


def test_sensitive_flag_shows_on_the_dashboard(platform, owner):
    """A clip a reviewer flagged as personal says so on its owner's dashboard."""
    from overheard.review.models import Exclusion

    rec = add_recording(platform, owner.device_id, "something personal")
    with transaction(platform.sessions) as s:
        s.add(Exclusion(recording_id=rec.id, reason="sensitive", by="R-0001"))
    page = owner.client.get("/me")
    assert page.status_code == 200
    assert "Flagged as personal, removed from review." in page.text


def test_a_clip_served_then_withdrawn_says_who_was_sent_it(platform, owner):
    from overheard.protect._tables import Watermark

    heard = add_recording(platform, owner.device_id, "turn off the radio")
    unheard = add_recording(platform, owner.device_id, "turn on the radio")
    task = add_task(platform, heard, state="withdrawn")
    add_task(platform, unheard, state="withdrawn")
    with transaction(platform.sessions) as s:
        s.add(Watermark(id=7, grant_kind="lease", grant_id="l" * 32, staff="R-1a2b",
                        task_pseudonym=task.pseudonym, recording_id=heard.id, served_at=START))
    html = owner.client.get("/me").text
    shown = html[html.index(f'id="rec-{heard.id}"'):]
    alias = staff_alias(alias_key(platform.secrets), "R-1a2b", scope=owner.household_id)
    first = shown.split("</article>")[0]
    assert f"served to <strong class=\"served\">{alias}</strong>, then withdrawn" in first
    assert "R-1a2b" not in html
    other = html[html.index(f'id="rec-{unheard.id}"'):].split("</article>")[0]
    assert "before anyone was sent the audio" in other and "R-1a2b" not in other


def test_every_reviewer_a_clip_was_sent_to_is_named_not_only_the_one_who_finished(
    platform, owner
):
    """A reviewer who was sent a clip and skipped it (or let the lease run out) heard it too:
    before, the dashboard named only the one who finished it, and a clip given back to the queue
    read "waiting for a reviewer" as if nobody had been sent it."""
    from overheard.protect._tables import Watermark

    done = add_recording(platform, owner.device_id, "turn off the radio")
    skipped = add_recording(platform, owner.device_id, "turn on the radio")
    done_task = add_task(platform, done, state="done", done_by="R-2c3d")
    queued_task = add_task(platform, skipped, state="queued")
    with transaction(platform.sessions) as s:
        for mark, (task, rec, staff) in enumerate(
            [
                (done_task, done, "R-1a2b"),
                (done_task, done, "R-2c3d"),
                (queued_task, skipped, "R-1a2b"),
            ]
        ):
            s.add(Watermark(id=20 + mark, grant_kind="lease", grant_id=f"{mark}" * 32, staff=staff,
                            task_pseudonym=task.pseudonym, recording_id=rec.id, served_at=START))
    html = owner.client.get("/me").text
    key = alias_key(platform.secrets)
    first, finisher = (staff_alias(key, n, scope=owner.household_id) for n in ("R-1a2b", "R-2c3d"))
    reviewed = html[html.index(f'id="rec-{done.id}"'):].split("</article>")[0]
    assert f'reviewed by <strong class="reviewer">{finisher}</strong>' in reviewed
    assert first in reviewed
    waiting = html[html.index(f'id="rec-{skipped.id}"'):].split("</article>")[0]
    assert first in waiting
    assert "R-1a2b" not in html and "R-2c3d" not in html


def test_a_recording_that_was_never_a_request_says_what_it_was(platform, owner):
    """An accidental wake, a wake-free answer and a clip that could not be processed are listed
    in words, not as ordinary requests."""
    from overheard.customer.service import ACCIDENTAL_WORDS, ANSWER_WORDS, FAILED_WORDS
    from overheard.recordings.models import Recording, Status
    from overheard.speech.answer_window import ANSWER_ONLY

    request = add_recording(platform, owner.device_id, "what time is it")
    accidental = add_recording(platform, owner.device_id, "so then she said")
    answer = add_recording(platform, owner.device_id, "yes")
    failed = add_recording(platform, owner.device_id, "my pin is, alexa, lights on")
    with transaction(platform.sessions) as s:
        s.get(Recording, accidental.id).status = Status.ACCIDENTAL.value
        s.get(Recording, failed.id).status = Status.FAILED.value
        row = s.get(Recording, answer.id)
        row.status, row.status_reason = Status.ACCIDENTAL.value, ANSWER_ONLY
    html = owner.client.get("/me").text

    def article(rec_id: str) -> str:
        start = html.index(f'id="rec-{rec_id}"')
        return html[start : html.index("</article>", start)]

    assert "What it was" not in article(request.id)
    assert ACCIDENTAL_WORDS in article(accidental.id) and ANSWER_WORDS not in article(accidental.id)
    assert ANSWER_WORDS in article(answer.id)
    assert FAILED_WORDS in article(failed.id) and "/audio" in article(failed.id)


def test_each_recordings_player_and_delete_button_name_their_recording(platform, owner):
    recs = [add_recording(platform, owner.device_id, f"clip {i}", at=START - timedelta(hours=i))
            for i in (1, 2)]
    html = owner.client.get("/me").text
    for rec in recs:  # a screen reader's list of buttons tells one recording from the next
        when = f"{rec.captured_at:%Y-%m-%d %H:%M:%S}"
        assert f'aria-label="Delete this recording ({when})"' in html
        assert f'aria-label="Recording of {when}"' in html


def test_a_shorter_retention_asks_first_and_says_what_it_will_delete(platform, owner):
    """Choosing to keep recordings for less time deletes the older ones at the next sweep. Before,
    "Save" did it at once without a word: no count, no question, and the old recordings stayed on
    the page until the sweep took them with nobody told. Now it asks, like every other deletion."""
    from tests.accounts.conftest import csrf_of

    old = add_recording(platform, owner.device_id, "old one", at=START - timedelta(days=100))
    add_recording(platform, owner.device_id, "new one", at=START - timedelta(hours=1))
    asked = submit(owner.client, "/me", "/me/retention", retention="3_months")
    assert asked.status_code == 200
    assert "Keep your recordings for 3 months?" in asked.text
    assert "1 recording captured before 2025-12-02 09:00 UTC will be deleted at the next sweep, within the hour" in asked.text
    assert 'name="retention" value="3_months"' in asked.text and 'name="confirm" value="yes"' in asked.text
    with platform.sessions() as s:
        assert s.get(Household, owner.household_id).retention == "until_deleted"  # nothing yet
    done = owner.client.post("/me/retention", follow_redirects=False, data={
        "retention": "3_months", "confirm": "yes", "csrf_token": csrf_of(asked.text)})  # fmt: skip
    assert done.status_code == 303
    shown = owner.client.get(done.headers["location"]).text
    assert "Saved: your recordings are kept 3 months. Older ones are deleted at the next sweep" in shown
    with platform.sessions() as s:
        assert s.get(Household, owner.household_id).retention == "3_months"
        assert s.get(type(old), old.id) is not None  # the sweep deletes it, with its receipt
    longer = submit(owner.client, "/me", "/me/retention", retention="18_months")  # deletes nothing
    assert longer.status_code == 303


@pytest.mark.parametrize(
    "action",
    ["recording.trimmed", "recordings.purged", "audio.disguise", "review.undo", "review.ask_second",
     "learn.destroy", "backup.restore_audio_missing", "backup.restore_shredded"],
)  # fmt: skip
def test_the_access_log_says_in_words_what_each_step_on_a_households_data_was(action: str) -> None:
    """A step the platform records against a household reads as words, never as its code."""
    from overheard.customer.access import what_happened

    what, _why = what_happened(action, None)
    assert what != action and "_" not in what and "." not in what.rstrip(".")
