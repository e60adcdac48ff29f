"""Regenerate docs/settings.md from the Settings fields.

    python scripts/gen_settings_doc.py > docs/settings.md
"""

from __future__ import annotations

from overheard.config import Settings

HEADER = [
    "# Settings",
    "",
    "Every setting is read from the environment (`OVERHEARD_<NAME>`) or from `<data_dir>/settings.env`.",
    "Nothing else in Overheard reads the environment. Units are part of the names.",
    "Regenerate this page with `python scripts/gen_settings_doc.py > docs/settings.md`.",
    "",
    "| variable | default | meaning |",
    "| --- | --- | --- |",
]


def default_text(value: object) -> str:
    """How a default is shown: secrets and empty strings by name."""
    if hasattr(value, "get_secret_value"):
        return "(secret)" if value.get_secret_value() else "(empty)"
    return "(empty)" if value == "" else str(value)


def main() -> None:
    rows = [
        f"| `OVERHEARD_{name.upper()}` | `{default_text(field.default)}` | {field.description} |"
        for name, field in Settings.model_fields.items()
    ]
    print("\n".join(HEADER + rows))


if __name__ == "__main__":
    main()
