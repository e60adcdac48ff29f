"""The application factory: ``create_app(platform)`` builds the whole HTTP surface, no globals."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from . import __version__
from .accounts import web as accounts_web
from .accounts.aliases import alias_key, display_actor
from .accounts.context import resolve as resolve_auth
from .accounts.rbac import public
from .accounts.web import error_response, render
from .customer import routes as customer_routes
from .errors import OverheardError, ServiceUnavailable, safe_trace
from .observe import RequestContext, route_of
from .platform import Platform
from .privacy import routes as privacy_routes
from .protect import redact
from .proxies import trusted_proxies
from .recordings import api as recordings_api
from .unavailable import backend_unavailable
from .workbench import routes as workbench_routes

log = logging.getLogger(__name__)
TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
FAVICON = STATIC_DIR / "favicon.svg"
API_DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
}
"""The Swagger UI files served from the installed bundle, so ``/docs`` works offline."""


SERVE_PID_ENV = "OVERHEARD_SERVE_PID"
"""Set by ``serve`` for the web processes it spawns: its own process id, so each one can tell when
the ``serve`` process is gone."""
PARENT_POLL_S = 0.5
"""How often a web process checks that the ``serve`` process that spawned it is still there."""
ORPHAN_GRACE_S = 10.0
"""Seconds an orphaned web process gets to finish its requests before it exits regardless."""


def exit_with_parent(parent_pid: int) -> threading.Thread:
    """Stop this process once ``parent_pid`` is no longer its parent.

    A ``serve`` process killed outright (SIGKILL, the OOM killer) cannot stop its web processes;
    left alone they would keep the port and answer requests without the job workers, the timers
    and the checkpointer that live in ``serve``. Each web process therefore watches its parent:
    when it is gone, a SIGTERM starts the usual graceful shutdown, and after
    :data:`ORPHAN_GRACE_S` the process exits regardless. Committed uploads are durable at their
    acknowledgement, so nothing acknowledged is lost either way.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        log.warning("serve process %d is gone: this web process stops", parent_pid)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_S)
        os._exit(1)

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


def web_process_app() -> FastAPI:
    """The app of one of several web processes: settings from the environment ``serve`` passed on."""
    from .config import load_settings
    from .observe import configure_logging

    parent = os.environ.get(SERVE_PID_ENV)
    if parent:
        exit_with_parent(int(parent))
    settings = load_settings()
    configure_logging(settings.log_format)
    return create_app(Platform.open(settings), run_workers=False)


def make_templates() -> Jinja2Templates:
    """The page templates; every value is HTML-escaped unless marked safe."""
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    return Jinja2Templates(env=env)


def unavailable_response(exc: ServiceUnavailable, retry_after_s: int) -> JSONResponse:
    """503 with ``Retry-After``: a backing service is away; the request may be sent again."""
    headers = {"Retry-After": str(retry_after_s)}
    return error_response(exc.status, exc.code, exc.message, headers)


def _backend_error_types() -> list[type[BaseException]]:
    """Exception bases of the backend client libraries that are installed."""
    from sqlalchemy import exc as sa

    found: list[type[BaseException]] = [sa.DBAPIError, sa.TimeoutError]
    for module, names in _BACKEND_ERRORS:
        try:
            imported = importlib.import_module(module)
        except ImportError:
            continue
        found.extend(getattr(imported, name) for name in names)
    return found


_BACKEND_ERRORS = (
    ("botocore.exceptions", ("BotoCoreError", "ClientError")),
    ("redis.exceptions", ("RedisError",)),
    ("kombu.exceptions", ("KombuError",)),
    ("pkcs11.exceptions", ("PKCS11Error",)),
    ("hvac.exceptions", ("VaultError",)),
    ("requests.exceptions", ("RequestException",)),
)


def _install_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    @app.exception_handler(OverheardError)
    async def _overheard(request: Request, exc: OverheardError) -> Response:
        if isinstance(exc, ServiceUnavailable):
            log.warning("%s unavailable: %s", exc.service, exc.message)
            return unavailable_response(exc, retry_after_s)
        return await _error(request, exc.status, exc.code, exc.message, exc.headers)

    async def _backend(request: Request, exc: Exception) -> JSONResponse:
        unavailable = backend_unavailable(exc)
        route = route_of(request.scope)  # the template: raw paths may hold one-time tokens
        if unavailable is None:  # the trace without messages: a database's quotes the row's values
            log.error("unhandled %s on %s\n%s", type(exc).__name__, route, safe_trace(exc))
            return error_response(500, "internal_error", "internal error")
        log.warning(
            "%s unavailable (%s) on %s",
            unavailable.service,
            type(exc).__name__,
            route,
            extra={"service": unavailable.service},
        )
        return unavailable_response(unavailable, retry_after_s)

    for error_type in _backend_error_types():
        app.add_exception_handler(error_type, _backend)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid')}"
        return await _error(request, 422, "invalid_request", message)

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot hold (a NUL byte in text on PostgreSQL, an integer past its
        # range): the transaction was rolled back, so nothing was stored.
        return error_response(400, "invalid_value", "a value in the request cannot be stored")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return await _error(request, exc.status_code, code, str(exc.detail), exc.headers)


async def _error(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The one JSON error shape, or the same error as a page when a browser asked for one (a form
    post or a typed address: a person should not be shown JSON). The page knows who is signed in
    even where no route ran (an unknown address): its header and way back are theirs."""
    if not accounts_web.wants_html(request):
        return error_response(status, code, message, headers)
    if getattr(request.state, "auth", None) is None:
        try:
            await resolve_auth(request)
        except Exception as exc:  # the error page must render; it shows signed-out then
            log.warning("sign-in state unknown on an error page\n%s", safe_trace(exc))
    return accounts_web.error_page(request, status, code, message, headers)


def create_app(platform: Platform, *, run_workers: bool = True) -> FastAPI:
    """The ASGI app over ``platform``; starts and stops the in-process workers with its lifespan.

    ``run_workers=False`` (one of several web processes, or a test): no job workers and no timers
    here; the ``serve`` process that spawned the web processes runs them, once. The deletion and
    consent hooks are installed either way: a customer deletes through any web process.
    """
    from .tasks import register_hooks

    register_hooks()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Before the first request: a reviewer's first text would otherwise load these, and several
        # first requests at once held up everything else in the process (event loop included).
        await run_in_threadpool(redact.warm_up)
        if run_workers:
            from .tasks import housekeeping, register_all

            register_all()
            in_process = not platform.settings.broker_url
            platform.start_background(*([housekeeping(platform)] if in_process else []))
        try:
            yield
        finally:
            platform.jobs.stop()
            if run_workers:
                platform.checkpointer.stop()

    app = FastAPI(
        title="Overheard",
        version=__version__,
        lifespan=lifespan,
        description="Device ingest and the review loop of a voice assistant.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.platform = platform
    app.state.templates = make_templates()
    # Pages shown to other staff name a colleague by alias, never by sign-in name.
    key = alias_key(platform.secrets)
    app.state.templates.env.filters["alias"] = lambda actor: display_actor(key, actor or "")
    proxies = trusted_proxies(platform.settings)
    if proxies:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    _install_error_handlers(app, platform.settings.retry_after_s)
    # Routes are matched in order: the device upload and the review loop, the busiest, come first.
    app.include_router(recordings_api.router)
    workbench_routes.install(app, platform)
    accounts_web.install(app, platform)
    app.include_router(customer_routes.router)
    privacy_routes.install(app, platform)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(RequestContext)

    @app.get("/healthz", include_in_schema=False, dependencies=[Depends(public())])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _install_api_docs(app)

    @app.get("/favicon.ico", include_in_schema=False, dependencies=[Depends(public())])
    def favicon() -> FileResponse:
        return FileResponse(FAVICON, media_type="image/svg+xml")

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(public())])
    def metrics() -> Response:
        from .metrics import CONTENT_TYPE, exposition

        body = exposition(platform.sessions, platform.settings.metrics_multiprocess_dir)
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/readyz", include_in_schema=False, dependencies=[Depends(public())])
    def readyz() -> JSONResponse:
        from .health import readiness

        checks = readiness(platform)
        failing = [name for name, state in checks.items() if state != "ok"]
        if not failing:
            return JSONResponse({"status": "ready", "checks": checks})
        error = ServiceUnavailable(f"not ready: {', '.join(failing)}", service=failing[0])
        body = {**error.as_json(), "status": "unavailable", "checks": checks}
        headers = {"Retry-After": str(platform.settings.retry_after_s)}
        return JSONResponse(body, status_code=503, headers=headers)

    @app.get(
        "/",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[Depends(public())],
    )
    def home(request: Request) -> Response:
        return render(request, "home.html")

    return app


def _install_api_docs(app: FastAPI) -> None:
    """``/docs``: the interactive API reference, with its scripts served from the installed bundle."""

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(public())])
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Overheard API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )

    @app.get("/docs/assets/{name}", include_in_schema=False, dependencies=[Depends(public())])
    def api_docs_asset(name: str) -> FileResponse:
        media_type = API_DOCS_ASSETS.get(name)
        if media_type is None:
            raise StarletteHTTPException(404, "no such file")
        return FileResponse(Path(swagger_ui_path) / name, media_type=media_type)
