"""Imports every module that declares tables, so ``Base.metadata`` is complete (for migrations)."""

from __future__ import annotations

from . import audit, households, jobs, keys, purges  # noqa: F401
from .accounts import models as account_models  # noqa: F401
from .auditlog import checkpoints as audit_checkpoints  # noqa: F401
from .db import Base
from .hazmat import models as hazmat_models  # noqa: F401
from .identity import models as identity_models  # noqa: F401
from .learn import models as learn_models  # noqa: F401
from .privacy import models as privacy_models  # noqa: F401
from .protect import _tables as protect_tables  # noqa: F401
from .recordings import models as recording_models  # noqa: F401
from .review import models as review_models  # noqa: F401

metadata = Base.metadata
