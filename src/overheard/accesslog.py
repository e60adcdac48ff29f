"""The HTTP server's access log without one-time secrets, and the server's proxy-trust options."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

SECRET_PATH = re.compile(r"^(/(?:enrol|invite|review/audio)/)(?!mfa(?:[/?]|$))[^/?#\s]+")
"""Path segments that are bearer secrets: enrolment links, invitations, signed audio URLs."""
REDACTED = "[redacted]"


def redact_path(path: str) -> str:
    """``path`` with any one-time token replaced by ``[redacted]``, and no query string kept."""
    bare = path.split("?", 1)[0]
    return SECRET_PATH.sub(lambda m: m.group(1) + REDACTED, bare)


class RedactTokens(logging.Filter):
    """Rewrites uvicorn access records (``client, method, path, version, status``) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record, with its path redacted."""
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_path(args[2]), args[3], args[4])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`RedactTokens` on the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": f"{__name__}.RedactTokens"}
    config["handlers"]["access"]["filters"] = ["redact_tokens"]
    return config


def server_options(settings: Any) -> dict[str, Any]:
    """uvicorn options: no proxy headers (the app decides whom to trust), redacted access log."""
    return {"proxy_headers": False, "log_config": log_config(), "log_level": "info"}


def trusted_proxies(settings: Any) -> list[str]:
    """The configured proxy addresses whose forwarding headers are believed (may be empty)."""
    return [part.strip() for part in settings.forwarded_allow_ips.split(",") if part.strip()]
