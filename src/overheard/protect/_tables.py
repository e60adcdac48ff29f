"""Tables of the serving layer: the watermark of every serve, and the one disguise of each clip.

Neither holds content or a household id. A watermark row outlives the recording (a leaked copy does
too); a disguised-clip row goes with its recording.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class Watermark(Base):
    """One serve: the id marked into the audio and what it was served under."""

    __tablename__ = "watermarks"
    __table_args__ = (Index("ix_watermarks_staff_served", "staff", "served_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """The payload in the audio, 0 … 2**24 - 1 (random, unique; up to 2**32 - 1 before)."""
    grant_kind: Mapped[str] = mapped_column(String(16))
    """``lease``, ``adjudication`` or ``case``: what entitled the listener."""
    grant_id: Mapped[str] = mapped_column(String(32), index=True)
    """The lease id, agreement id or privacy case id."""
    staff: Mapped[str] = mapped_column(String(32))
    """Pseudonym of the staff member it was served to."""
    task_pseudonym: Mapped[str] = mapped_column(String(16))
    """The clip's pseudonym as the listener saw it."""
    recording_id: Mapped[str] = mapped_column(String(32), index=True)
    """Kept after the recording is deleted (an id, no content): a leak outlives the original."""
    served_at: Mapped[datetime] = mapped_column(default=utcnow)
    served_s: Mapped[float | None] = mapped_column(default=None)
    """Seconds of audio in this serve (less than the clip when only the unsure words are served)."""


class DisguisedClip(Base):
    """Where a recording's disguised rendition is stored (sealed under the household key)."""

    __tablename__ = "disguised_clips"

    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    blob_key: Mapped[str] = mapped_column(String(200))
    method_version: Mapped[int] = mapped_column(server_default=text("1"))
    """``DISGUISE_VERSION`` of the method that made the copy (an older one is made again)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
