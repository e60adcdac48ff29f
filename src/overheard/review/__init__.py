"""The review programme: consent, sampling, the task queue with leases, annotations, agreement, gold.

Reviewers are staff known only by a pseudonym string; tasks carry their own random pseudonym. Nothing
here reads the identity zone, and nothing a reviewer is handed names a household, device or time.
See ``docs/review.md``.
"""
