"""A deletion receipt in plain words, for the household's pages: what went, when, what of it.

The signed receipt keeps its codes (``scope.kind = "one"``, ``audio_blobs``…); these are only
what the pages say about them. A count nobody named here is shown with its code's words."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from ..households import Retention

DESTROYED = {
    "recordings": "the recordings",
    "audio_blobs": "the audio",
    "derived_texts": "transcripts and intents",
    "review_tasks_withdrawn": "review tasks (withdrawn)",
    "review_annotations": "reviewers' transcripts",
    "review_gold": "review test items",
    "export_memberships_removed": "places in training exports",
    "model_versions_affected": "models trained on them (destroyed at the next sweep)",
    "stray_blobs": "stray stored files",
    "identity_fields_resealed": "your sign-in details, locked again under the new key",
    "working_copies_removed": "working copies",
}
"""What each count of a receipt stands for."""
RETENTION_LABELS = {
    Retention.UNTIL_DELETED.value: "Until I delete them",
    Retention.MONTHS_18.value: "18 months",
    Retention.MONTHS_3.value: "3 months",
    Retention.HOURS_24.value: "24 hours",
}
"""Each retention choice in words (the dashboard's choices, a receipt's retention deletion)."""


def _day(iso: str) -> str:
    return iso[:10]


def recordings(n: int) -> str:
    """``n`` recordings in words: "1 recording", "3 recordings"."""
    return f"{n} recording{'' if n == 1 else 's'}"


def scope(body: dict[str, Any]) -> str:
    """What the deletion was asked to remove, e.g. "1 recording, captured on 2026-03-02"."""
    what, count = (
        body.get("scope", {}),
        recordings(int(body.get("counts", {}).get("recordings", 0))),
    )
    kind = what.get("kind")
    if kind == "everything":
        return f"everything: {count} and your household key"
    if kind == "one":
        return f"{count}, the one you chose"
    if kind == "range":
        # The bounds are local midnights, the second one the day after the last (exclusive).
        first, last = (
            _day(what["from"]),
            str(date.fromisoformat(_day(what["to"])) - timedelta(days=1)),
        )
        return (
            f"{count}, captured on {first}"
            if first == last
            else f"{count}, captured from {first} to {last}"
        )
    if kind == "voice_last":
        return f"{count}: what you said just before asking, by voice, to delete it"
    if kind == "voice_today":
        return (
            f"{count}: everything you said on {_day(what['since'])}, deleted as you asked by voice"
        )
    if kind == "retention":
        kept = RETENTION_LABELS.get(what.get("retention", ""), what.get("retention", ""))
        return f"{count} older than you chose to keep them ({kept}), captured before {_day(what['before'])}"
    return f"{count} ({kind})"


def destroyed(body: dict[str, Any]) -> str:
    """The kinds of copy destroyed, as a list in words."""
    kinds = body.get("destroyed", [])
    ordered = [k for k in DESTROYED if k in kinds] + [k for k in kinds if k not in DESTROYED]
    return ", ".join(DESTROYED.get(k, k.replace("_", " ")) for k in ordered)


def moment(at: str | datetime) -> str:
    """A receipt's time to the minute, in UTC: "2026-03-02 at 09:00 UTC"."""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    return f"{when:%Y-%m-%d} at {when:%H:%M} UTC"


def summary(body: dict[str, Any]) -> str:
    """One sentence: what was deleted and when."""
    return f"Deleted {scope(body)}, on {moment(body['at'])}."
