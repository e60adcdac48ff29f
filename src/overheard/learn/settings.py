"""The learning loop's settings, read from the one Settings object (defaults until it declares them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from .split import HELDOUT_PERCENT

RETIRE_ON_RETRAIN = True
"""Default: a version whose training clips were deleted is retired once its successor is trained."""


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
        models = getattr(settings, "learn_models_dir", "") or settings.data_dir / "models"
        exports = getattr(settings, "learn_exports_dir", "") or settings.data_dir / "exports"
        return cls(
            models_dir=Path(models),
            exports_dir=Path(exports),
            heldout_percent=int(getattr(settings, "learn_heldout_percent", HELDOUT_PERCENT)),
            retire_on_retrain=bool(getattr(settings, "learn_retire_on_retrain", RETIRE_ON_RETRAIN)),
        )
