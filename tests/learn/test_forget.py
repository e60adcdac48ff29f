"""Models forget: versions trained on a deleted household are destroyed by the retention sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from overheard import purges
from overheard.db import transaction
from overheard.learn.active import active_specs
from overheard.learn.approval import approve
from overheard.learn.models import ModelKind, VersionState
from overheard.learn.registry import get_version, retire
from overheard.learn.train_asr import train_asr
from overheard.learn.train_nlu import train_nlu
from overheard.learn.training import TrainOptions
from overheard.recordings.deletion import delete_everything
from overheard.tasks import retention_sweep

THEIRS = [
    ("alexa switch on the zanzibar orangery lamps", "lights_on"),
    ("alexa add quokka marmalade to the list", "shopping_add"),
]
OURS = [
    ("alexa will it rain in leeds", "weather"),
    ("alexa play some folk in the kitchen", "music_play"),
]


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """``learn_min_households`` 1 (allowed: a one-household install): one household's words then
    enter the ASR model, and deletion must still reach every version that holds them. (With the
    default, 2, they never enter: tests/learn/test_households.py.)"""
    return settings.model_copy(update={"learn_min_households": 1})


def text_under(path: Path) -> str:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return "".join(p.read_bytes().decode("latin-1") for p in files)


def test_every_version_trained_on_a_deleted_household_is_destroyed_by_the_sweep(
    platform, make_home, make_reviewed, make_staff, tmp_path
):
    leaving, staying = make_home(), make_home()
    for text, intent in THEIRS:
        make_reviewed(leaving, text, intent)
    for text, intent in OURS:
        make_reviewed(staying, text, intent)
    options = TrainOptions(models_dir=tmp_path / "models", actor="test", include_seed=False)
    retired = train_asr(platform, options)
    approved = train_asr(platform, options)
    nlu = train_nlu(platform, options)
    lead = make_staff("lead")
    with transaction(platform.sessions) as s:
        retire(s, retired.version_id, actor="test", because="manual")
        approve(s, approved.version_id, lead)
    assert "orangery" in text_under(retired.path) and "orangery" in text_under(approved.path)
    assert nlu.path.is_file()

    receipt = delete_everything(platform, leaving.household_id, actor="customer")
    doomed = [retired.version_id, approved.version_id, nlu.version_id]
    assert receipt.body["model_versions_to_destroy"] == sorted(doomed)
    # A lead may retrain without the deleted clips before the sweep: that version stays.
    successor = train_asr(platform, TrainOptions(**{**options.__dict__, "exclude_deleted": True}))

    retention_sweep(platform)
    for result in (retired, approved, nlu):
        assert not result.path.exists()
    assert successor.path.exists() and "orangery" not in text_under(successor.path)
    assert "orangery" not in text_under(tmp_path / "models")
    assert "quokka" not in text_under(tmp_path / "models")
    with platform.sessions() as s:
        for vid in doomed:
            version = get_version(s, vid)
            assert version.state == VersionState.RETIRED and version.destroyed_at is not None
        assert get_version(s, successor.version_id).destroyed_at is None
        assert active_specs(s)[0] is None  # the pipeline is back on its default recogniser
        assert purges.pending(s) == 0
    retention_sweep(platform)  # idempotent: nothing more to destroy
    with platform.sessions() as s:
        assert get_version(s, successor.version_id).kind == ModelKind.ASR
