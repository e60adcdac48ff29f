"""Model versions: lineage, lead approval, what the pipeline uses, and deletion reaching the models."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from overheard.db import transaction
from overheard.errors import Conflict, Forbidden
from overheard.learn.active import active_specs, newest_approved
from overheard.learn.approval import approve
from overheard.learn.evaluate import _check_disjoint, heldout_examples
from overheard.learn.models import Lineage, ModelKind, SplitName, VersionState
from overheard.learn.registry import get_version, versions_affected_by_receipt
from overheard.learn.train_asr import train_asr
from overheard.learn.train_nlu import train_nlu
from overheard.learn.training import TrainOptions
from overheard.recordings.deletion import delete_recordings
from overheard.speech.asr import asr_from_spec
from overheard.speech.nlu import IntentModel

REQUESTS = [
    ("alexa switch on the conservatory lights", "lights_on"),
    ("alexa do i need a brolly in aberdeen tomorrow", "weather"),
    ("alexa we've run out of marmite", "shopping_add"),
    ("alexa put on the kinks in the utility room", "music_play"),
]


@pytest.fixture
def home(make_home):
    return make_home()


@pytest.fixture
def reviewed(home, make_home, make_reviewed):
    train = [make_reviewed(home, text, intent) for text, intent in REQUESTS]
    held = make_reviewed(  # another household: evaluation scores no household of the train side
        make_home(), "alexa switch off the landing lights", "lights_off", split=SplitName.HELDOUT
    )
    return train, held


@pytest.fixture
def options(tmp_path):
    return TrainOptions(models_dir=tmp_path / "models", actor="test")


def lineage(platform, version_id: str) -> set[str]:
    with platform.sessions() as s:
        return set(s.scalars(select(Lineage.recording_id).where(Lineage.version_id == version_id)))


def test_asr_version_knows_the_reviewed_words_and_its_lineage(
    platform, reviewed, options, make_home, make_reviewed
):
    """Words two households said (``learn_min_households``, default 2) enter the model."""
    train, held = reviewed
    neighbour = make_home()
    train = train + [make_reviewed(neighbour, text, intent) for text, intent in REQUESTS]
    result = train_asr(platform, options)
    assert result.version_id == "asr-0001" and result.trained_on == len(train)
    assert lineage(platform, "asr-0001") == set(train) and held not in lineage(platform, "asr-0001")
    words = (result.path / "words.dict").read_text().split("\n")
    entries = {line.split(" ")[0] for line in words if line}
    assert {"alexa", "brolly", "conservatory", "marmite", "kinks"} <= entries
    assert "conservatory lights" in (result.path / "lm.arpa").read_text()
    assert asr_from_spec(f"pocketsphinx:{result.path}").name.endswith(str(result.path))


def test_nlu_version_learns_reviewed_intents(platform, reviewed, options):
    result = train_nlu(platform, options)
    model = IntentModel.load(result.path)
    assert model.predict("we've run out of marmite").intent == "shopping_add"
    assert lineage(platform, result.version_id) == set(reviewed[0])


def test_only_a_lead_approves_and_the_pipeline_takes_the_newest_approved(
    platform, reviewed, options, make_staff
):
    first = train_asr(platform, options)
    second = train_asr(platform, options)
    nlu = train_nlu(platform, options)
    annotator, lead = make_staff("annotator"), make_staff("lead")
    with transaction(platform.sessions) as s:
        assert active_specs(s) == (None, None, ())
        with pytest.raises(Forbidden):
            approve(s, first.version_id, annotator)
    with transaction(platform.sessions) as s:
        approve(s, first.version_id, lead)
        assert active_specs(s)[0] == f"whisper:{first.path}"
        assert active_specs(s, "pocketsphinx:generic")[0] == f"pocketsphinx:{first.path}"
        approve(s, second.version_id, lead)
        approve(s, nlu.version_id, lead)
        with pytest.raises(Conflict):
            approve(s, nlu.version_id, lead)
    with platform.sessions() as s:
        spec, nlu_path, ids = active_specs(s, "pocketsphinx")
    assert spec == f"pocketsphinx:{second.path}" and nlu_path == nlu.path
    assert ids == (second.version_id, nlu.version_id)


def test_deletion_reaches_the_models_and_retraining_retires_them(
    platform, home, reviewed, options, make_staff
):
    train, _ = reviewed
    old = train_asr(platform, options)
    with transaction(platform.sessions) as s:
        approve(s, old.version_id, make_staff("lead"))
    receipt = delete_recordings(
        platform, home.household_id, [train[0]], actor="customer", scope={"kind": "one"}
    )
    assert receipt.body["counts"]["model_versions_affected"] == 1
    with platform.sessions() as s:
        assert versions_affected_by_receipt(s, receipt.id) == [old.version_id]
    new = train_asr(platform, TrainOptions(models_dir=options.models_dir, exclude_deleted=True))
    assert train[0] not in lineage(platform, new.version_id)
    assert lineage(platform, new.version_id) == set(train[1:])
    assert new.retired == (old.version_id,)
    with platform.sessions() as s:
        assert get_version(s, old.version_id).state == VersionState.RETIRED
        assert get_version(s, new.version_id).supersedes == old.version_id
        assert newest_approved(s, ModelKind.ASR) is None  # the successor waits for a lead


def test_retirement_can_be_switched_off(platform, home, reviewed, options):
    old = train_asr(platform, options)
    delete_recordings(
        platform, home.household_id, [reviewed[0][0]], actor="customer", scope={"kind": "one"}
    )
    new = train_asr(
        platform,
        TrainOptions(models_dir=options.models_dir, exclude_deleted=True, retire_on_retrain=False),
    )
    assert new.retired == ()
    with platform.sessions() as s:
        assert get_version(s, old.version_id).state == VersionState.CANDIDATE


def test_evaluation_refuses_a_version_trained_on_heldout_clips(platform, reviewed, options):
    result = train_asr(platform, options)
    _, held = reviewed
    with transaction(platform.sessions) as s:
        s.add(Lineage(version_id=result.version_id, recording_id=held, annotation_id="x"))
    with transaction(platform.sessions) as s:
        examples = heldout_examples(platform, s).examples
        assert [e.clip.recording_id for e in examples] == [held]
        with pytest.raises(Conflict, match="held-out"):
            _check_disjoint(s, [result.version_id], examples)


def test_a_model_is_written_where_nobody_else_can_read_it(platform, reviewed, tmp_path):
    """The n-grams of reviewed transcripts are plaintext: an operator's models folder that others can
    list (0755) is closed before the first byte is written, not after the build."""
    import os
    import stat

    from overheard.learn.models import ModelKind
    from overheard.learn.train_asr import build_asr
    from overheard.learn.training import train_and_register

    models = tmp_path / "shared-models"
    old = os.umask(0o022)
    try:
        models.mkdir(mode=0o755)
        seen = []

        def build(examples, path):  # the real build; the folder's mode looked at while it is written
            stats = build_asr(examples, path, include_seed=True)
            seen.append(stat.S_IMODE(path.parent.stat().st_mode))
            return stats

        train_and_register(platform, ModelKind.ASR, TrainOptions(models_dir=models, actor="test"), build)
    finally:
        os.umask(old)
    assert seen == [0o700]


def test_a_build_killed_before_registering_does_not_block_the_next_run(platform, reviewed, options):
    """SIGKILL mid-build leaves plaintext n-grams under a staging name; the retention sweep removes
    them, and the next run builds the same version number instead of stopping as busy."""
    import signal
    import subprocess
    import sys

    from overheard.tasks import retention_sweep

    models = platform.settings.data_dir / "models"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from overheard.learn.staging import staged_build\n"
            "with staged_build(Path(sys.argv[1]), 'asr-0001') as s:\n"
            "    s.mkdir(); (s / 'lm.arpa').write_text('kitchen lights secret'); print('up', flush=True)"
            "; time.sleep(600)",
            str(models),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "up"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert any(p.name.startswith(".building-") for p in models.iterdir())

    retention_sweep(platform)
    assert not any(p.name.startswith(".building-") for p in models.iterdir())

    result = train_asr(platform, TrainOptions(models_dir=models, actor="test"))
    assert result.path == models / "asr-0001"
    assert (result.path / "lm.arpa").exists()


def test_a_version_trained_on_a_deleted_clip_cannot_be_approved(
    platform, home, reviewed, options, make_staff
):
    """The deletion receipt names the version as one the sweep destroys; approving it meanwhile
    would put the deleted clip's words into the pipeline until then. Before, it was approved."""
    old = train_asr(platform, options)
    receipt = delete_recordings(
        platform, home.household_id, [reviewed[0][0]], actor="customer", scope={"kind": "one"}
    )
    assert receipt.body["model_versions_to_destroy"] == [old.version_id]
    with transaction(platform.sessions) as s, pytest.raises(Conflict) as refused:
        approve(s, old.version_id, make_staff("lead"))
    assert refused.value.code == "trained_on_deleted"
    with platform.sessions() as s:
        assert get_version(s, old.version_id).state == VersionState.CANDIDATE
        assert active_specs(s) == (None, None, ())
