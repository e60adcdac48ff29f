"""A pipeline job that gave up is audited by the exception's type only: the audit log outlives
every deletion, and an exception's message may quote what was said (a library's ``KeyError`` on a
recognised word, a parser quoting its input). The message stays on the recording's row, which
goes with the recording."""

from __future__ import annotations

from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.recordings.deletion import delete_recordings
from overheard.recordings.models import Recording
from overheard.speech import pipeline
from tests.conftest import tone_wav
from tests.recordings.test_ingest_api import auth

SAID = "my pin is four three two one"


def test_a_failed_recording_leaves_no_words_in_the_audit_log(client, platform, make_household):
    hh = make_household()
    answer = client.post("/api/v1/utterances", content=tone_wav(0.5), headers=auth(hh.device_token))
    rid = answer.json()["id"]
    pipeline.mark_failed(platform, rid, f"KeyError: '{SAID}'")  # the job's on_failure
    with platform.sessions() as s:
        rec = s.get(Recording, rid)
        assert rec.status == "failed" and SAID in (rec.status_reason or "")
    delete_recordings(platform, hh.household_id, [rid], actor="customer", scope={"kind": "one"})
    with platform.sessions() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "pipeline.failed"))
        assert event.reason == "KeyError"
        left = " ".join(str(e.reason) + str(e.details) for e in s.scalars(select(AuditEvent)))
    assert "four three" not in left


def test_a_failed_job_logs_no_message(platform, caplog):
    """A job kind whose handler fails with content in its message: the log names the type."""
    from overheard import jobs
    from overheard.db import transaction

    def fails(_platform, _subject: str) -> None:
        raise KeyError(SAID)

    jobs.register("test.quotes_content", fails)
    with transaction(platform.sessions) as s:
        job_id = jobs.enqueue(s, "test.quotes_content", "nothing").id
    job = jobs.claim(platform.sessions, job_id=job_id)
    with caplog.at_level("INFO", logger="overheard.jobs"):
        jobs.run_claimed(platform, job)
    assert "KeyError" in caplog.text and "four three" not in caplog.text
    with platform.sessions() as s:
        assert SAID in (s.get(jobs.Job, job_id).last_error or "")  # on the row, for the operator
