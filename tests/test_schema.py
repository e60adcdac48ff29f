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


def test_0007_keeps_every_household_key_on_upgrade_and_downgrade(database_url):
    """``deleted_spans`` is added to existing key rows as none (nothing refused until a deletion
    records a span), and a downgrade drops only that column."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from overheard.households import create_household
    from overheard.keys import DataKey

    engine = make_engine(database_url)
    migrate(engine)
    with Session(engine) as s:
        hh = create_household(s)
        s.add(DataKey(household_id=hh.id, wrapped=b"wrapped", kek_version="v1"))
        s.commit()
        household_id = hh.id
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "src/overheard/migrations"))
    for step, target in ((command.downgrade, "0006_recordings_device_received"),
                         (command.upgrade, "head")):  # fmt: skip
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, target)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT wrapped, deleted_spans FROM data_keys WHERE household_id = :h"),
            {"h": household_id},
        ).one()
    engine.dispose()
    assert (bytes(row.wrapped), row.deleted_spans) == (b"wrapped", None)
