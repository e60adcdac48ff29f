"""The tamper-evident audit log beyond the chain: RFC 6962 Merkle checkpoints signed with Ed25519,
full verification, and inclusion and consistency proofs. Events are appended by :func:`overheard.audit.append`.
"""

from __future__ import annotations

from .chain import Fault
from .checkpoints import (
    CHECKPOINT_EVERY_EVENTS,
    CHECKPOINT_EVERY_S,
    CHECKPOINT_POLL_S,
    Checkpoint,
    Checkpointer,
    checkpoint,
    checkpoint_due,
    latest_checkpoint,
    maybe_checkpoint,
)
from .proofs import (
    ConsistencyProof,
    InclusionProof,
    prove,
    prove_consistency,
    verify_consistency,
    verify_inclusion,
)
from .signing import (
    SIGNING_KEY_FILE,
    Signer,
    TreeHead,
    ensure_signing_key,
    load_public_key,
    load_signing_key,
    public_key_pem,
)
from .verify import Problem, Report, verify

__all__ = [
    "CHECKPOINT_EVERY_EVENTS",
    "CHECKPOINT_EVERY_S",
    "CHECKPOINT_POLL_S",
    "SIGNING_KEY_FILE",
    "Checkpoint",
    "Checkpointer",
    "ConsistencyProof",
    "Fault",
    "InclusionProof",
    "Problem",
    "Report",
    "Signer",
    "TreeHead",
    "checkpoint",
    "checkpoint_due",
    "ensure_signing_key",
    "latest_checkpoint",
    "load_public_key",
    "load_signing_key",
    "maybe_checkpoint",
    "prove",
    "prove_consistency",
    "public_key_pem",
    "verify",
    "verify_consistency",
    "verify_inclusion",
]
