"""Enrolling households and devices with their identity, and the customer's own identity view."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy.orm import Session

from .. import audit
from ..crypto.aead import open_sealed, seal
from ..errors import NotFound
from ..households import Device, add_device, create_household
from ..keys import KeyRing
from ..server_secrets import ServerSecrets
from .models import DeviceIdentity, HouseholdIdentity


@dataclass(frozen=True)
class Enrolment:
    """What enrolling a household hands back once: its pseudonym, a device and that device's token."""

    household_id: str
    device_id: str
    device_token: str


@dataclass(frozen=True)
class IdentityView:
    """A household's identity, opened for its owner."""

    name: str
    account: str
    email: str


def email_index(secrets: ServerSecrets, email: str) -> bytes:
    """Keyed hash of a normalised e-mail address, for looking up a login without storing it plainly."""
    return hmac.new(secrets["email_index"], email.strip().lower().encode(), hashlib.sha256).digest()


def enrol_household(
    session: Session,
    keyring: KeyRing,
    secrets: ServerSecrets,
    *,
    name: str,
    account: str,
    email: str,
    serial: str,
    actor: str = "cli",
) -> Enrolment:
    """Create a household, its data key, its sealed identity and a first device."""
    household = create_household(session)
    keyring.create(session, household.id)
    key = keyring.data_key(session, household.id)
    session.add(
        HouseholdIdentity(
            household_id=household.id,
            name_sealed=seal(key, name.encode(), record_id=household.id, kind="identity.name"),
            account_sealed=seal(
                key, account.encode(), record_id=household.id, kind="identity.account"
            ),
            email_sealed=seal(key, email.encode(), record_id=household.id, kind="identity.email"),
            email_index=email_index(secrets, email),
        )
    )
    device, token = enrol_device(session, keyring, household.id, serial=serial, actor=actor)
    audit.append(
        session,
        actor=actor,
        action="household.create",
        subject=household.id,
        household_id=household.id,
    )
    return Enrolment(household.id, device.id, token)


def enrol_device(
    session: Session, keyring: KeyRing, household_id: str, *, serial: str, actor: str = "cli"
) -> tuple[Device, str]:
    """Add a device with its sealed serial; returns the device and its one-time token."""
    device, token = add_device(session, household_id)
    key = keyring.data_key(session, household_id)
    sealed = seal(key, serial.encode(), record_id=device.id, kind="identity.serial")
    session.add(DeviceIdentity(device_id=device.id, serial_sealed=sealed))
    audit.append(
        session, actor=actor, action="device.create", subject=device.id, household_id=household_id
    )
    return device, token


def open_identity(session: Session, keyring: KeyRing, household_id: str) -> IdentityView:
    """The household's identity in plaintext, for its owner's own views."""
    row = session.get(HouseholdIdentity, household_id)
    if row is None:
        raise NotFound("no identity for this household")
    key = keyring.data_key(session, household_id)

    def field(kind: str, blob: bytes) -> str:
        return open_sealed(key, blob, record_id=household_id, kind=kind).decode()

    return IdentityView(
        name=field("identity.name", row.name_sealed),
        account=field("identity.account", row.account_sealed),
        email=field("identity.email", row.email_sealed),
    )
