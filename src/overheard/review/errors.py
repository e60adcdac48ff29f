"""Errors of the review programme."""

from __future__ import annotations

from ..errors import Conflict, OverheardError


class LeaseExpired(Conflict):
    """The lease ran out, was withdrawn, or is not the caller's: the task is no longer theirs."""

    code = "lease_expired"


class ClipHeld(OverheardError):
    """Another clip of the clip's household still waits for the pipeline (it may be a spoken
    deletion of this one): nothing of the clip is served or stored now; ask again shortly."""

    status = 503
    code = "clip_held"
    retry_after_s = 2.0
