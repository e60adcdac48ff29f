"""The app's own pages: the offline API reference and the favicon."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import overheard
from overheard.web import create_app


@pytest.fixture
def client(platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_workers=False), base_url="https://testserver") as c:
        yield c


def test_api_reference_loads_nothing_from_another_host(client):
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)=["\']([^"\']+)', page.text)
    assert sources, page.text
    assert all(s.startswith("/") for s in sources), sources
    assert "https://" not in page.text.replace("https://testserver", "")


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")],
)
def test_api_reference_assets_are_served(client, name, media_type):
    response = client.get(f"/docs/assets/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert len(response.content) > 10_000


@pytest.mark.parametrize("name", ["index.html", "..%2F..%2F__init__.py", "swagger-ui.js.map"])
def test_only_the_named_assets_are_served(client, name):
    response = client.get(f"/docs/assets/{name}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_schema_the_reference_reads_is_served(client):
    assert client.get("/openapi.json").json()["info"]["title"] == "Overheard"


def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in response.content
    assert 'rel="icon"' in client.get("/").text


@pytest.mark.parametrize("tagger", [False, True])
def test_the_redaction_tables_are_loaded_before_the_first_request(platform, tagger):
    # The first reviewer of a fresh web process must not wait for them (0.1-0.5 s of CPU).
    # Never the name tagger's encoder (250 MB): the pipeline stores the tagger's names, whatever
    # the setting.
    from overheard.protect import _lexicon, _name_tagger

    platform.settings = platform.settings.model_copy(update={"redaction_name_tagger": tagger})
    _lexicon.lexicon.cache_clear()
    _name_tagger._model.cache_clear()
    app = create_app(platform, run_workers=False)
    assert _lexicon.lexicon.cache_info().currsize == 0
    with TestClient(app, base_url="https://testserver"):
        assert _lexicon.lexicon.cache_info().currsize == 1
        assert _name_tagger._model.cache_info().currsize == 0


def test_a_web_process_imports_no_encoder(tmp_path):
    # Redaction at serve time reads the names the pipeline stored: the tagger's module, the
    # encoder's and SciPy stay out of a web process (about 20 MB).
    code = (
        "import sys\nimport overheard.web\nfrom overheard.protect import redact\n"
        "redact.warm_up()\nprint(sorted(m for m in sys.modules if m.startswith(("
        "'overheard.speech._minilm', 'overheard.protect._name_tagger', 'scipy'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(overheard.__file__).parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_an_unhandled_database_error_is_logged_without_the_values_it_quotes(platform, caplog):
    """PostgreSQL's error detail quotes the row it refused, and SQLAlchemy the statement's values:
    the log holds the error's type and where it was raised, never those."""
    import logging

    from sqlalchemy import exc

    secret = "grace.hopper@example.org"
    app = create_app(platform, run_workers=False)

    @app.get("/boom")
    def boom() -> None:
        raise exc.IntegrityError(
            "INSERT INTO t (email) VALUES (%(email)s)",
            {"email": secret},
            Exception(f"Failing row contains ({secret}, null)"),
        )

    with caplog.at_level(logging.ERROR), TestClient(
        app, base_url="https://testserver", raise_server_exceptions=False
    ) as c:
        answer = c.get("/boom")
    assert answer.status_code == 500 and secret not in answer.text
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "IntegrityError" in logged and "boom" in logged
    assert secret not in logged
