"""Signed deletion receipts: the canonical JSON of a receipt, signed with the audit key (Ed25519).

A receipt is a JSON object. Its signed part is every field except those in ``SIGNATURE_FIELDS``,
serialised with sorted keys and no spaces, prefixed by ``RECEIPT_CONTEXT``. Anyone with the audit
public key (``overheard audit`` prints it) can check a receipt offline with :func:`verify_receipt`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RECEIPT_FORMAT = "overheard-deletion-receipt/1"
RECEIPT_CONTEXT = b"overheard deletion receipt v1\n"
"""Domain separator: a receipt signature can never pass for a checkpoint signature, or back."""
SIGNATURE_ALG = "Ed25519"
SIGNATURE_FIELDS = frozenset({"signature", "signature_alg", "key_id"})


class ReceiptSigner(Protocol):
    """What signs receipts: the audit ``Signer``."""

    key_id: str

    def sign(self, message: bytes) -> bytes:
        """A signature over ``message``."""
        ...


def signed_part(receipt: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a signature covers."""
    return {k: v for k, v in receipt.items() if k not in SIGNATURE_FIELDS}


def canonical(receipt: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed: context, then sorted-key compact JSON of the signed part."""
    body = json.dumps(signed_part(receipt), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return RECEIPT_CONTEXT + body.encode()


def sign_receipt(signer: ReceiptSigner, body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with its signature, algorithm and the signing key's id added."""
    signature = signer.sign(canonical(body))
    return {
        **signed_part(body),
        "signature": base64.b64encode(signature).decode(),
        "signature_alg": SIGNATURE_ALG,
        "key_id": signer.key_id,
    }


def verify_receipt(receipt: Mapping[str, Any], public_key: Ed25519PublicKey) -> bool:
    """True when ``receipt`` carries a valid signature by ``public_key`` over its signed part."""
    if receipt.get("signature_alg") != SIGNATURE_ALG:
        return False
    try:
        signature = base64.b64decode(str(receipt.get("signature", "")), validate=True)
        public_key.verify(signature, canonical(receipt))
    except (InvalidSignature, ValueError):
        return False
    return True
