"""A job that fails records the exception's type (and an error code of ours), never its message:
a message may quote what was said (a library's ``KeyError`` on a recognised word, a parser quoting
its input), and the job's row, the recording's ``status_reason`` and the log are plaintext an
operator reads outside the content gate (the audit log outlives every deletion besides)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from overheard import jobs
from overheard.audit import AuditEvent
from overheard.db import transaction, utcnow
from overheard.errors import AudioRejected
from overheard.recordings.deletion import delete_everything, delete_recordings
from overheard.recordings.models import Recording
from overheard.speech import pipeline
from tests.conftest import tone_wav
from tests.recordings.test_ingest_api import auth

SAID = "my pin is four three two one"


def test_a_failed_recording_leaves_no_words_in_the_audit_log(client, platform, make_household):
    hh = make_household()
    answer = client.post("/api/v1/utterances", content=tone_wav(0.5), headers=auth(hh.device_token))
    rid = answer.json()["id"]
    pipeline.mark_failed(platform, rid, "KeyError")  # the job's on_failure
    with platform.sessions() as s:
        assert s.get(Recording, rid).status == "failed"
    delete_recordings(platform, hh.household_id, [rid], actor="customer", scope={"kind": "one"})
    with platform.sessions() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "pipeline.failed"))
        assert event.reason == "KeyError"
        left = " ".join(str(e.reason) + str(e.details) for e in s.scalars(select(AuditEvent)))
    assert "four three" not in left


def test_a_failed_job_logs_no_message(platform, caplog):
    """A job kind whose handler fails with content in its message: the log names the type."""

    def fails(_platform, _subject: str) -> None:
        raise KeyError(SAID)

    jobs.register("test.quotes_content", fails)
    with transaction(platform.sessions) as s:
        job_id = jobs.enqueue(s, "test.quotes_content", "nothing").id
    job = jobs.claim(platform.sessions, job_id=job_id)
    with caplog.at_level("INFO", logger="overheard.jobs"):
        jobs.run_claimed(platform, job)
    assert "KeyError" in caplog.text and "four three" not in caplog.text


def _quoting(platform, subject: str) -> None:
    """A handler whose error quotes the clip's words, a file name and a household, the way a
    library's ``KeyError`` or ``FileNotFoundError`` would, chained to another that does too."""
    try:
        raise FileNotFoundError(2, "No such file", f"/tmp/{SAID}.wav")
    except FileNotFoundError as exc:
        raise ValueError(f"cannot parse {SAID!r} for {subject}") from exc


def _fail_for_good(platform, job_id: str) -> None:
    later = utcnow()
    for _ in range(platform.settings.job_max_attempts):
        later += timedelta(hours=1)
        job = jobs.claim(platform.sessions, job_id=job_id, now=later)
        assert job is not None
        jobs.run_claimed(platform, job, now=lambda at=later: at)


def _a_clip_whose_job_quoted_it(client, platform, make_household):  # type: ignore[no-untyped-def]
    """A household's uploaded clip whose job failed for good quoting words, a path and the id."""
    jobs.register("test.quotes_clip", _quoting, pipeline.mark_failed)
    hh = make_household()
    rid = client.post(
        "/api/v1/utterances", content=tone_wav(0.5), headers=auth(hh.device_token)
    ).json()["id"]
    with transaction(platform.sessions) as s:
        job_id = jobs.enqueue(s, "test.quotes_clip", rid).id
    _fail_for_good(platform, job_id)
    return hh, rid, job_id

def test_a_failed_job_keeps_no_words_on_its_row_or_its_recording(client, platform, make_household):
    """Before, ``jobs.last_error`` kept ``Type: message`` and the whole trace (chained messages
    included), and ``on_failure`` put ``Type: message`` on the recording's row: the words were
    readable, unaudited, by anyone who can list failed jobs or query the table."""
    hh, rid, job_id = _a_clip_whose_job_quoted_it(client, platform, make_household)
    with platform.sessions() as s:
        job, rec = s.get(jobs.Job, job_id), s.get(Recording, rid)
        assert job.state == "failed" and rec.status == "failed"
        error, reason = job.last_error or "", rec.status_reason or ""
    # the operator still learns what failed, and where
    assert error.startswith("ValueError") and "FileNotFoundError (ENOENT)" in error
    assert "_quoting" in error and reason == "ValueError"
    assert "four three" not in error + reason and hh.household_id not in error


def test_an_error_code_of_ours_is_kept(platform):
    """A deliberate error's machine-readable code says what went wrong without quoting anything."""

    def rejects(_platform, _subject: str) -> None:
        raise AudioRejected(f"{SAID} is not audio", code="bad_format")

    jobs.register("test.rejects", rejects)
    with transaction(platform.sessions) as s:
        job_id = jobs.enqueue(s, "test.rejects", "nothing").id
    jobs.run_claimed(platform, jobs.claim(platform.sessions, job_id=job_id))
    with platform.sessions() as s:
        error = s.get(jobs.Job, job_id).last_error or ""
    assert error.startswith("AudioRejected (bad_format)") and "four three" not in error


def test_no_job_row_holds_a_deleted_households_words(client, platform, make_household):
    """After "delete everything" no row of ``jobs``, whatever its subject, holds the words."""
    hh, rid, _ = _a_clip_whose_job_quoted_it(client, platform, make_household)
    delete_everything(platform, hh.household_id, actor="customer")
    with platform.sessions() as s:
        rows = s.execute(text("SELECT * FROM jobs")).all()
    assert not [r for r in rows if "four three" in " ".join(map(str, r))]
    assert not [r for r in rows if rid in " ".join(map(str, r))]


def test_a_failure_that_cannot_be_recorded_logs_no_words(platform, caplog):
    """A worker logs a job whose outcome it could not record (its ``on_failure`` raised, the
    database went away). Before, that log line carried the whole traceback, and the handler's
    error rode along in it as the context ("During handling of the above exception…"): the
    words it quoted reached the log, which no deletion reaches."""
    import time

    def fails(_platform, _subject: str) -> None:
        raise KeyError(SAID)

    def cannot_record(_platform, _subject: str, _reason: str) -> None:
        raise RuntimeError("the database went away")

    jobs.register("test.unrecorded", fails, cannot_record)
    with transaction(platform.sessions) as s:
        job = jobs.enqueue(s, "test.unrecorded", "nothing")
        job.attempts, job_id = platform.settings.job_max_attempts - 1, job.id  # its last try
    workers = jobs.InProcessBackend(platform, threads=1)
    with caplog.at_level("INFO"):
        workers.start()
        try:
            deadline = time.monotonic() + 60
            while "recording the outcome" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            workers.stop()
    logged = caplog.text + "".join(
        str(r.exc_info) + (r.exc_text or "") for r in caplog.records
    )
    assert f"recording the outcome of job {job_id} failed" in logged
    assert "RuntimeError" in logged and "four three" not in logged


def test_failures_recorded_the_old_way_keep_only_their_type_after_0008(
    client, platform, make_household
):
    """Migration 0008 rewrites failures recorded as ``Type: message`` and the whole trace (before
    messages were kept out) to their type; failures recorded the new way stay as they are."""
    from alembic import command
    from alembic.config import Config

    from tests.conftest import PROJECT_ROOT

    hh = make_household()
    rid = client.post(
        "/api/v1/utterances", content=tone_wav(0.5), headers=auth(hh.device_token)
    ).json()["id"]
    old_trace = f'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: {SAID}\n'
    with transaction(platform.sessions) as s:
        old = jobs.enqueue(s, "test.old", rid).id
        new = jobs.enqueue(s, "test.new", "nothing").id
    safe = 'AudioRejected (bad_format)\n  File "x.py", line 1, in run\n    decode(body)\n'
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "src/overheard/migrations"))
    engine = platform.engine
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007_data_keys_deleted_spans")
    with engine.begin() as conn:
        for job_id, error in ((old, f"ValueError: {SAID}\n{old_trace}"), (new, safe)):
            conn.execute(
                text("UPDATE jobs SET state = 'failed', last_error = :e WHERE id = :i"),
                {"e": error, "i": job_id},
            )
        conn.execute(
            text("UPDATE recordings SET status = 'failed', status_reason = :r WHERE id = :i"),
            {"r": f"ValueError: {SAID}", "i": rid},
        )
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with platform.sessions() as s:
        old_error, new_error = s.get(jobs.Job, old).last_error, s.get(jobs.Job, new).last_error
        reason = s.get(Recording, rid).status_reason
    assert old_error.splitlines()[0] == "ValueError" and "four three" not in old_error
    assert new_error == safe
    assert reason == "ValueError"


def test_a_timer_that_fails_logs_where_not_what(caplog):
    """The background timers (retention sweep, key rotation checks, re-announcing jobs) log a
    failure by type and frames: a database error there quotes the row it refused."""
    import logging
    import threading

    failed = threading.Event()

    def sweep() -> None:
        failed.set()
        raise ValueError(f"Failing row contains ({SAID})")

    timer = jobs.Periodic("retention sweep", 0.01, sweep)
    with caplog.at_level(logging.ERROR, logger="overheard.jobs"):
        timer.start()
        assert failed.wait(10)
        timer.stop()
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "retention sweep failed" in logged and "ValueError" in logged and "sweep" in logged
    assert "four three" not in logged
