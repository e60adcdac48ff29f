"""The learning loop's settings, with its folders resolved against the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Settings


@dataclass(frozen=True)
class LearnSettings:
    """Where models and exports go, the held-out share, and the retirement rule."""

    models_dir: Path
    exports_dir: Path
    heldout_percent: int
    """Share of reviewed clips kept for evaluation, percent."""
    retire_on_retrain: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> LearnSettings:
        """``learn_models_dir``, ``learn_exports_dir``, ``learn_heldout_percent``, ``learn_retire_on_retrain``."""
        return cls(
            models_dir=Path(settings.learn_models_dir or settings.data_dir / "models"),
            exports_dir=Path(settings.learn_exports_dir or settings.data_dir / "exports"),
            heldout_percent=settings.learn_heldout_percent,
            retire_on_retrain=settings.learn_retire_on_retrain,
        )
