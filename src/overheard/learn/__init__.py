"""The learning loop: reviewed data -> datasets -> adapted speech and intent models, measured.

Exports (sealed per household), model versions with lineage and lead approval, evaluation on a
held-out split that is never trained on, and a deletion hook that reaches exports and models. See
``docs/learning.md``.
"""

from __future__ import annotations


def register() -> None:
    """Install the learning loop's deletion hook (idempotent); call once at start-up."""
    from .hooks import register as register_hooks

    register_hooks()
