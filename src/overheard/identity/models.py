"""Identity tables: every field encrypted under the household's data key."""

from __future__ import annotations

from sqlalchemy import ForeignKey, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base


class HouseholdIdentity(Base):
    """Name, account number and e-mail of a household, sealed; ``email_index`` is a keyed hash for login."""

    __tablename__ = "identity_households"

    household_id: Mapped[str] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), primary_key=True
    )
    name_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    account_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    email_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    email_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)


class DeviceIdentity(Base):
    """A device's serial number, sealed."""

    __tablename__ = "identity_devices"

    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    serial_sealed: Mapped[bytes] = mapped_column(LargeBinary)
