"""docs/operations.md names only real settings, and its example configuration covers every
setting the multi-process deployment needs."""

from __future__ import annotations

import re

from overheard.config import Settings
from tests.conftest import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "operations.md"
NEEDED = {
    "database_url", "blob_url", "s3_endpoint_url", "s3_access_key", "s3_secret_key", "kek_url",
    "kek_secret", "broker_url", "secrets_path", "audit_signing_key_path", "key_share_dir",
}  # fmt: skip


def variables(text: str) -> set[str]:
    return {m.lower() for m in re.findall(r"OVERHEARD_([A-Z0-9_]+)", text)}


def test_every_variable_named_is_a_setting():
    named = variables(DOC.read_text()) - {"test_postgres_url"}
    unknown = named - set(Settings.model_fields)
    assert not unknown, f"docs/operations.md names unknown settings: {sorted(unknown)}"


def test_example_configuration_covers_the_deployment():
    text = DOC.read_text()
    example = text.split("/etc/overheard/overheard.env`:", 1)[1].split("```", 2)[1]
    assert variables(example) >= NEEDED
