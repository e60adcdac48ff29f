"""One-time tokens are cut out of access-log paths; other paths pass unchanged."""

from __future__ import annotations

import logging

import pytest

from overheard.accesslog import RedactTokens, redact_path


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/enrol/abc123", "/enrol/[redacted]"),
        ("/enrol/abc123?next=/x", "/enrol/[redacted]"),
        ("/invite/tok-en_1/extra", "/invite/[redacted]/extra"),
        ("/review/audio/tok.sig", "/review/audio/[redacted]"),
        ("/enrol/mfa", "/enrol/mfa"),
        ("/enrol/mfatoken", "/enrol/[redacted]"),
        ("/me?page=2", "/me"),
        ("/login", "/login"),
    ],
)
def test_redact_path(path, logged):
    assert redact_path(path) == logged


def test_filter_rewrites_uvicorn_access_records():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/invite/s3cret", "1.1", 200), None,
    )
    assert RedactTokens().filter(record)
    assert "s3cret" not in record.getMessage() and "/invite/[redacted]" in record.getMessage()
