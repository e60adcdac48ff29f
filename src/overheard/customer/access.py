"""The owner's access log in plain language: who (by role), did what, to which recording, and why.

The audit log stores machine codes (``content.open`` with purpose ``review.serve``) and ids; the owner
reads sentences, recordings named by when they were captured (linked to where they sit on the
dashboard), and their own page views folded into one line per visit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts.aliases import SIGN_IN_NAME, alias_code, alias_key
from ..accounts.models import StaffUser
from ..platform import Platform
from ..recordings.models import Recording
from ..recordings.purging import FAILED_PURGE
from . import service

VISIT_GAP = timedelta(minutes=10)
"""Own views further apart than this are shown as separate visits."""
FILTERS = ("all", "staff", "you", "system")
"""What the owner can narrow the log to."""

_CONTENT = {
    "owner_view": "read the transcript",
    "owner_playback": "played the audio",
    "owner_export": "downloaded it in an export",
    "review.serve": "heard a disguised, watermarked copy of the audio",
    "review.text": "read the redacted transcript",
    "pipeline": "transcribed the audio automatically",
    "agreement": "compared two reviewers' answers automatically",
    "make_gold": "made the reviewed answer a reference example",
    "gold_scoring": "scored a reviewer against a reference example",
}
_ACTIONS = {
    "recording.ingest": "sent a recording",
    "recording.trimmed": "kept only the request after the wake word and erased the rest",
    "recordings.purged": "erased the stored copies of deleted recordings",
    "audio.disguise": "made the disguised copy of a recording that reviewers hear",
    "review.undo": "took back a review just submitted",
    "review.ask_second": "asked a second reviewer to review a recording",
    "learn.destroy": "destroyed a model trained on your recordings",
    "learn.working_copies_expired": "removed expired working copies of a training dataset",
    "backup.restore_audio_missing": "restored a recording from a backup that lacked its audio: "
    "the audio is gone",
    "backup.restore_shredded": "kept what you deleted unreadable while restoring a backup",
    "recordings.delete": "deleted recordings",
    "recordings.purge_audio": "erased the audio of an accidental wake-up",
    "review.sample": "picked a recording for human review",
    "review.claim": "took a recording to review",
    "review.submit": "submitted a review",
    "review.skip": "skipped a recording without reviewing it",
    "review.adjudicate": "settled two reviewers' disagreement",
    "review.gold": "made a recording a reference example",
    "review.gold_retire": "retired a reference example",
    "review.consent": "changed whether people may review your recordings",
    "household.retention": "changed how long recordings are kept",
    "household.create": "created your household",
    "device.create": "added a device",
    "device.revoke": "revoked a device",
    "customer.invite": "invited you to this dashboard",
    "customer.export": "prepared a download of all your data",
    "keys.destroy": "destroyed your household's key",
    "keys.rotate": "rotated the key that protects your household's key",
    "audio.serve": "sent a disguised, watermarked clip to a reviewer",
    "text.view": "showed the redacted transcript to a reviewer",
    "trace": "traced a leaked clip back to its reviewer",
    "learn.export": "put reviewed recordings into a training dataset",
    "learn.export_open": "read a training dataset",
    "learn.export_plaintext": "wrote a training dataset out unencrypted",
    "learn.shard_open": "read a training dataset",
    "learn.register": "trained a model",
    "learn.approve": "approved a model",
    "learn.retire": "retired a model",
    "identity.break_glass": "looked up who you are (break-glass access)",
    "reidentify.request": "asked to learn which household a flagged recording came from",
    "reidentify.approve": "approved a request to learn which household a recording came from",
    "reidentify.deny": "refused a request to learn which household a recording came from",
    "reidentify.lapse": "let a re-identification request lapse unanswered",
    "reidentify.view": "saw which household a flagged recording came from",
    "voice_delete.refused": "did not carry out a spoken deletion request",
    "voice_delete.asked": "asked whether to carry out a spoken deletion request",
    "voice_delete.prompted": "was told what to say to you about a spoken deletion request",
    "voice_delete.reasked": "heard an unclear answer and asked once more",
    "voice_delete.confirmed": "heard your yes to a spoken deletion request",
    "voice_delete.declined": "heard your no: the spoken deletion request was dropped, nothing deleted",
    "voice_delete.scheduled": "scheduled a spoken deletion request after its undo period",
    "voice_delete.undone": "undid a spoken deletion request",
    "voice_delete.started": "began carrying out the spoken deletion request you confirmed, once "
    "every earlier recording of yours had been heard",
    "voice_delete.too_late": "heard your no after the spoken deletion had already been carried "
    "out: nothing could be undone",
    "voice_delete.answer_window": "heard a recording without the wake word only as your answer "
    "to a spoken deletion question; its words were not kept and its audio is erased",
}
RECORDING_ACTIONS = frozenset(
    {
        "content.open",
        "recording.ingest",
        "recordings.purge_audio",
        "review.sample",
        "review.claim",
        "review.submit",
        "review.skip",
        "review.adjudicate",
        "review.gold",
        "audio.serve",
        "text.view",
    }
    | {action for action in _ACTIONS if action.startswith("voice_delete.")}
)
"""Actions whose audit subject is a recording id."""
_REASONS = {
    "random": "chosen at random",
    "low_confidence": "the recogniser was unsure",
    "review.serve": "",
    "review.text": "",
    "delete_last": "what you said just before",
    "delete_today": "everything you said today",
    "question": "",
    "reask": "",
    "declined": "",
    "too_late": "",
    "yes": "it said yes",
    "no": "it said no",
    "unclear": "it was unclear",
    "other": "it was no answer",
}


@dataclass(frozen=True)
class AccessLine:
    """One line of the owner's access log."""

    seq: int
    at: datetime
    who: str
    """Who, in words: "You", "Annotator R-7f3a", "Overheard (pipeline)" …"""
    kind: str
    """``you``, ``staff``, ``device`` or ``system`` (what the filters use)."""
    what: str
    why: str
    recording_id: str | None
    receipt_id: str | None = None
    count: int = 1
    """Events folded into this line (the owner's own views in one visit)."""


@dataclass(frozen=True)
class RecordingLink:
    """Where a recording named in the log sits on the dashboard."""

    label: str
    href: str | None
    """None once the recording is deleted."""


def who_is(
    actor: str, you: str, roles: dict[str, str], alias: Callable[[str], str]
) -> tuple[str, str]:
    """(words, kind) for an audit actor string; staff are named by ``alias(sign_in_name)``."""
    if actor == you:
        return "You", "you"
    if actor.startswith("customer"):
        return "Your household's account", "you"
    if actor.startswith("system:"):
        return f"Overheard ({actor.split(':', 1)[1]})", "system"
    if actor in ("system", "cli", "demo") or actor.startswith("cli:"):
        return "An operator (command line)", "system"
    if actor.startswith("dev_"):
        return "Your device", "device"
    pseudonym = actor.removeprefix("staff:")
    role = roles.get(pseudonym)
    shown = alias(pseudonym)  # never the sign-in name (docs/accounts.md, "Display alias")
    return (
        f"{role.replace('_', ' ').capitalize()} {shown}" if role else f"Staff {shown}"
    ), "staff"


def what_happened(action: str, reason: str | None) -> tuple[str, str]:
    """(what, why) in words for an audit action and its reason."""
    if action == "content.open":
        return _CONTENT.get(reason or "", f"opened content ({reason})"), ""
    if action.startswith("pipeline."):
        return f"finished processing a recording: {action.split('.', 1)[1]}", ""
    if action == "recordings.purge_audio" and reason == FAILED_PURGE:
        return "erased the audio of a recording that could not be processed", ""
    if action.startswith("privacy.emergency."):
        return f"handled an emergency report ({action.rsplit('.', 1)[1]})", reason or ""
    what = _ACTIONS.get(action, action)
    return what, _REASONS.get(reason or "", reason or "")


def staff_roles(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """Role of each staff pseudonym among ``actors``."""
    names = {a.removeprefix("staff:") for a in actors}
    rows = session.execute(
        select(StaffUser.pseudonym, StaffUser.role).where(StaffUser.pseudonym.in_(names))
    )
    return {p: str(r) for p, r in rows}


def fold_own_views(lines: Sequence[AccessLine]) -> list[AccessLine]:
    """The owner's own reads, newest first, folded into one line per visit."""
    out: list[AccessLine] = []
    for line in lines:
        last = out[-1] if out else None
        own_read = line.kind == "you" and line.what == _CONTENT["owner_view"]
        if (
            own_read
            and last is not None
            and last.kind == "you"
            and last.what.startswith("viewed your dashboard")
            and last.at - line.at <= VISIT_GAP
        ):
            count = last.count + 1
            out[-1] = replace(last, at=line.at, count=count, what=_visit(count))
        elif own_read:
            out.append(replace(line, what=_visit(1), recording_id=None))
        else:
            out.append(line)
    return out


def _visit(reads: int) -> str:
    return f"viewed your dashboard ({reads} transcript read{'s' if reads != 1 else ''})"


def recording_links(
    session: Session, household_id: str, ids: set[str], page_size: int
) -> dict[str, RecordingLink]:
    """A label and a dashboard link for each recording id still present."""
    if not ids:
        return {}
    order = session.execute(
        select(Recording.id, Recording.captured_at)
        .where(Recording.household_id == household_id)
        .order_by(Recording.captured_at.desc(), Recording.id)
    ).all()
    links = {}
    for position, (rec_id, captured_at) in enumerate(order):
        if rec_id in ids:
            label = f"recording of {captured_at:%Y-%m-%d %H:%M:%S}"
            links[rec_id] = RecordingLink(label, f"/me?page={position // page_size}#rec-{rec_id}")
    gone = RecordingLink("a recording since deleted", None)
    return {i: links.get(i, gone) for i in ids}


@dataclass(frozen=True)
class AccessPage:
    """One page of the plain-language log."""

    lines: list[AccessLine]
    links: dict[str, RecordingLink]
    older: int | None
    """Sequence number to pass as ``before`` for the next page; None on the last one."""


def access_page(
    platform: Platform, household_id: str, you: str, *, before_seq: int | None, show: str
) -> AccessPage:
    """A page of the household's audit events in words, filtered to ``show`` (one of FILTERS)."""
    entries = service.access_log(platform, household_id, before_seq=before_seq)
    with platform.sessions() as session:
        roles = staff_roles(session, {e.actor for e in entries})
        key = alias_key(platform.secrets)

        def alias(name: str) -> str:
            if not SIGN_IN_NAME.fullmatch(name):
                return name
            return alias_code(key, name, scope=household_id)

        lines = [_line(e, you, roles, alias) for e in entries]
        lines = [line for line in lines if show == "all" or line.kind == show]
        lines = fold_own_views(lines)
        ids = {line.recording_id for line in lines if line.recording_id}
        links = recording_links(session, household_id, ids, service.PAGE_SIZE)
    older = entries[-1].seq if len(entries) == service.ACCESS_PAGE_SIZE else None
    return AccessPage(lines, links, older)


def _line(
    entry: service.AccessEntry, you: str, roles: dict[str, str], alias: Callable[[str], str]
) -> AccessLine:
    who, kind = who_is(entry.actor, you, roles, alias)
    what, why = what_happened(entry.action, entry.reason)
    recording = entry.action in RECORDING_ACTIONS or entry.action.startswith("pipeline.")
    receipt = entry.subject if entry.action == "recordings.delete" else None
    return AccessLine(
        entry.seq, entry.at, who, kind, what, why, entry.subject if recording else None, receipt
    )
