"""The migrations produce exactly the schema the models declare; every setting is documented."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from overheard.config import Settings
from overheard.db import make_engine, migrate
from overheard.schema import metadata
from tests.conftest import PROJECT_ROOT


def test_migrations_match_models(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    engine.dispose()
    assert diff == []


def test_every_setting_is_documented():
    doc = (PROJECT_ROOT / "docs" / "settings.md").read_text()
    missing = [name for name in Settings.model_fields if f"`OVERHEARD_{name.upper()}`" not in doc]
    assert missing == []
