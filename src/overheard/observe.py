"""Request ids, one structured access-log line per request, latency metrics, JSON logs.

Logs name the route *template* (``/invite/{token}``), never the raw path, so one-time tokens in
URLs never reach a log; headers, bodies and query strings are never logged.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .counters import REQUEST_SECONDS, UPLOADS

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
"""The id of the request being answered on this task or thread ("-" outside requests)."""
UPLOAD_ROUTE = "/api/v1/utterances"
"""The device upload route, counted in ``overheard_uploads_total``."""
UPLOAD_OUTCOMES = {201: "created", 200: "replayed", 503: "unavailable", 507: "unavailable"}
"""Upload status -> outcome label (any other status is ``refused``); 507: the blob could not be
written, nothing was stored."""
LOGGED_FIELDS = ("request_id", "client", "method", "route", "status", "duration_ms", "service")
"""Extra record attributes a JSON log line carries."""

_GOOD_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
access_log = logging.getLogger("overheard.access")


def route_of(scope: Scope) -> str:
    """The matched route's template, or ``unmatched`` (never the raw path)."""
    route = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


class RequestContext:
    """ASGI middleware: a request id (kept from ``X-Request-ID`` when sane), latency, access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = REQUEST_ID.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _record(scope, status, time.perf_counter() - started)
            REQUEST_ID.reset(token)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _GOOD_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


def _record(scope: Scope, status: int, elapsed_s: float) -> None:
    route, method = route_of(scope), scope.get("method", "")
    REQUEST_SECONDS.labels(route, method, f"{status // 100}xx").observe(elapsed_s)
    if route == UPLOAD_ROUTE and method == "POST":
        UPLOADS.labels(UPLOAD_OUTCOMES.get(status, "refused")).inc()
    client = (scope.get("client") or ("-", 0))[0]  # after trusted proxies rewrote it, if any
    extra = {
        "request_id": REQUEST_ID.get(),
        "client": client,
        "method": method,
        "route": route,
        "status": status,
    }
    access_log.info("request", extra={**extra, "duration_ms": round(elapsed_s * 1000, 1)})


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and known extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in LOGGED_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    """Send every log record to stderr, as JSON lines (``json``) or plain text (``text``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "celery"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # RequestContext writes the access log (route templates); uvicorn's prints raw paths, which
    # can hold one-time tokens, so it stays silent in every process.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers[:] = []
    uvicorn_access.propagate = False
