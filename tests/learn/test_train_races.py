"""A training run that races a deletion of one of its clips leaves a model the sweep destroys."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from overheard.learn.models import Lineage
from overheard.learn.registry import get_version
from overheard.learn.train_asr import train_asr
from overheard.learn.training import TrainOptions
from overheard.recordings.deletion import delete_recordings
from overheard.tasks import retention_sweep
from tests.interleave import interleaved
from tests.learn.test_forget import text_under


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """One household's words enter the model, so the test can see them there."""
    return settings.model_copy(update={"learn_min_households": 1})


def test_a_deletion_during_training_reaches_the_model_it_trained(
    platform, make_home, make_reviewed, tmp_path
):  # type: ignore[no-untyped-def]
    """The run reads its clips, builds the model and registers its lineage in one transaction;
    a deletion landing before that commits must either be waited for (and then stamp the new
    lineage, so the sweep destroys the version) or have gone first (the clip is not trained on).
    Before, on PostgreSQL, the deletion stamped the lineage before the run had written it: the
    model held the deleted clip's words under a lineage no deletion had marked, and no sweep
    ever destroyed it."""
    home = make_home()
    victim = make_reviewed(home, "alexa switch on the zanzibar orangery lamps", "lights_on")
    make_reviewed(home, "alexa will it rain in leeds", "weather")

    def delete() -> object:
        return delete_recordings(
            platform, home.household_id, [victim], actor="customer", scope={"kind": "one"}
        )

    options = TrainOptions(models_dir=tmp_path / "models", actor="test", include_seed=False)
    with interleaved(platform, delete, at_commit=1) as receipts:
        result = train_asr(platform, options)
    with platform.sessions() as s:
        rows = list(s.scalars(select(Lineage).where(Lineage.version_id == result.version_id)))
    trained = {r.recording_id: r for r in rows}
    assert victim not in trained or trained[victim].deleted_at is not None
    if victim in trained:
        assert receipts[0].body["model_versions_to_destroy"] == [result.version_id]
    retention_sweep(platform)
    assert "orangery" not in text_under(tmp_path / "models")
    with platform.sessions() as s:
        version = get_version(s, result.version_id)
        assert (victim in trained) == (version.destroyed_at is not None)
