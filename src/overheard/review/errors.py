"""Errors of the review programme."""

from __future__ import annotations

from ..errors import Conflict


class LeaseExpired(Conflict):
    """The lease ran out, was withdrawn, or is not the caller's: the task is no longer theirs."""

    code = "lease_expired"
