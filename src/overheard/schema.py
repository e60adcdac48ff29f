"""Imports every module that declares tables, so ``Base.metadata`` is complete (for migrations)."""

from __future__ import annotations

from . import audit, households, jobs, keys  # noqa: F401
from .accounts import models as account_models  # noqa: F401
from .auditlog import checkpoints as audit_checkpoints  # noqa: F401
from .db import Base
from .identity import models as identity_models  # noqa: F401
from .recordings import models as recording_models  # noqa: F401

metadata = Base.metadata
