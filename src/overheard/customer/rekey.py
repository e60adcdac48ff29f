"""Carrying a household's identity across a key shredding: re-seal it under the new generation.

"Delete everything" destroys the household's content, not the household: the owner keeps their
account and devices. Their identity fields (name, account number, e-mail, device serials) are sealed
under the same data key as content, so they are opened under the old key and sealed under the new
one in the shredding transaction, before the old key is gone for good.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..crypto.aead import open_sealed, seal
from ..households import Device
from ..identity.models import DeviceIdentity, HouseholdIdentity

HOUSEHOLD_FIELDS = (
    ("name_sealed", "identity.name"),
    ("account_sealed", "identity.account"),
    ("email_sealed", "identity.email"),
)
"""Sealed columns of ``identity_households`` and the kind each is bound to."""
SERIAL_KIND = "identity.serial"


def _reseal(old_key: bytes, new_key: bytes, blob: bytes, record_id: str, kind: str) -> bytes:
    plain = open_sealed(old_key, blob, record_id=record_id, kind=kind)
    return seal(new_key, plain, record_id=record_id, kind=kind)


def reseal_identity(session: Session, household_id: str, old_key: bytes, new_key: bytes) -> int:
    """Re-seal the household's identity fields under ``new_key``; returns how many fields."""
    count = 0
    row = session.get(HouseholdIdentity, household_id)
    if row is not None:
        for column, kind in HOUSEHOLD_FIELDS:
            sealed = _reseal(old_key, new_key, getattr(row, column), household_id, kind)
            setattr(row, column, sealed)
            count += 1
    devices = session.scalars(
        select(DeviceIdentity)
        .join(Device, Device.id == DeviceIdentity.device_id)
        .where(Device.household_id == household_id)
    )
    for dev in devices:
        dev.serial_sealed = _reseal(old_key, new_key, dev.serial_sealed, dev.device_id, SERIAL_KIND)
        count += 1
    session.flush()
    return count
