"""An adapted ASR model holds only what several households said (``learn_min_households``).

One household's rare phrase (a name, a street, a medicine) must never reach the model that rescores
every household's speech: not lm.arpa, not words.dict, not whisper.json, nor the probabilities.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from overheard.learn.models import ModelKind
from overheard.learn.registry import list_versions
from overheard.learn.reviewed import Example, ReviewedClip
from overheard.learn.train_asr import (
    NothingToLearn,
    build_asr,
    shared_ngrams,
    train_asr,
    whisper_biasing,
)
from overheard.learn.training import TrainOptions
from overheard.speech import _rescore as rs

COMMON = (
    "alexa switch on the kitchen lights",
    "alexa what's the weather like in leeds today",
)
ONLY_ONE = "alexa ring zebedee at forty two quince lane"
"""Said by one household only: a name and an address."""
SHARED = "alexa remind me to take the metformin after physiotherapy"
"""Said by two households."""
SECRET_WORDS = ("zebedee", "quince")


@pytest.fixture
def settings(settings, request):  # type: ignore[no-untyped-def]
    """The parent settings, with ``learn_min_households`` set when parametrised."""
    k = getattr(request, "param", None)
    return settings if k is None else settings.model_copy(update={"learn_min_households": k})


def artifact_text(folder: Path) -> str:
    """Every file of a model version, as text."""
    return "\n".join(
        p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*")) if p.is_file()
    )


def homes_saying(make_home, make_reviewed, *said: tuple[str, ...]) -> list[str]:
    """One household per tuple, each saying its sentences (reviewed, train side); household ids."""
    ids = []
    for sentences in said:
        home = make_home()
        for text in sentences:
            make_reviewed(home, text, None)
        ids.append(home.household_id)
    return ids


def test_a_phrase_one_household_said_never_enters_the_model(
    platform, make_home, make_reviewed, tmp_path
):
    households = homes_saying(
        make_home,
        make_reviewed,
        (*COMMON, ONLY_ONE, SHARED),
        (*COMMON, SHARED),
        COMMON,
    )
    result = train_asr(platform, TrainOptions(models_dir=tmp_path / "models", include_seed=False))
    text = artifact_text(result.path)
    for word in SECRET_WORDS:
        assert word not in text
    for household in households:  # the model gains no household identifier
        assert household not in text
    # what two households said is learned, every order of it, and listed for whisper
    arpa = (result.path / "lm.arpa").read_text()
    assert "\ttake the metformin" in arpa and "\tmetformin after physiotherapy" in arpa
    words = {line.split(" ")[0] for line in (result.path / "words.dict").read_text().splitlines()}
    assert {"metformin", "physiotherapy", "kitchen"} <= words
    assert "ring" not in words and "lane" not in words
    domain = json.loads((result.path / "whisper.json").read_text())["domain_words"].split()
    assert "physiotherapy" in domain and not set(SECRET_WORDS) & set(domain)
    # rescoring: the one household's words are unknown to the domain model, the shared ones known
    model = rs.NgramModel(result.path / "lm.arpa")
    assert model.logprob("zebedee", ["alexa", "ring"]) is None
    assert model.logprob("quince", ["two"]) is None
    assert model.logprob("physiotherapy", ["metformin", "after"]) is not None


@pytest.mark.parametrize("settings", [3], indirect=True)
def test_the_setting_sets_how_many_households(platform, make_home, make_reviewed, tmp_path):
    homes_saying(make_home, make_reviewed, (*COMMON, SHARED), (*COMMON, SHARED), COMMON)
    result = train_asr(platform, TrainOptions(models_dir=tmp_path / "models", include_seed=False))
    text = artifact_text(result.path)
    assert "physiotherapy" not in text  # two households are not three
    assert "kitchen lights" in text  # three households said it
    assert result.stats["min_households"] == 3


def example(household: str, text: str, n: int) -> Example:
    """A reviewed clip's label as the trainer receives it."""
    return Example(ReviewedClip(f"rec{n}", f"ann{n}", household, "random", 2.0, 0.9), text, None)


def build(tmp_path: Path, name: str, said: list[tuple[str, str]], k: int) -> Path:
    folder = tmp_path / name
    examples = [example(h, t, n) for n, (h, t) in enumerate(said)]
    build_asr(examples, folder, include_seed=True, min_households=k)
    return folder


def test_the_model_does_not_depend_on_what_one_household_alone_said(tmp_path):
    """Whatever words only one household said (here a name and a street), every file of the model is
    the same byte for byte, so nothing in rescoring can depend on them; without the rule the files
    differ. (How often it said words others said too, or the seed requests hold, still counts.)"""
    others = [("hh_b", COMMON[0]), ("hh_c", COMMON[0]), ("hh_b", SHARED), ("hh_c", SHARED)]
    said_a = [("hh_a", COMMON[0]), ("hh_a", ONLY_ONE)]
    said_b = [("hh_a", COMMON[0]), ("hh_a", "alexa ring quentin at forty two medlar lane")]
    for k, same in ((2, True), (1, False)):
        first = build(tmp_path, f"a{k}", others + said_a, k)
        second = build(tmp_path, f"b{k}", others + said_b, k)
        assert (artifact_text(first) == artifact_text(second)) is same
        assert ("zebedee" in artifact_text(first)) is not same


def test_shared_ngrams_counts_households_not_repetitions():
    said = [("hh_a", ONLY_ONE)] * 5 + [("hh_b", "alexa ring mum")]
    allowed = shared_ngrams(said, min_households=2)
    assert ("alexa", "ring") in allowed and ("<s>", "alexa", "ring") in allowed
    assert ("zebedee",) not in allowed and ("ring", "zebedee") not in allowed
    assert ("mum",) not in allowed
    public = shared_ngrams(said, min_households=2, public=["call zebedee"])
    assert ("zebedee",) in public and ("ring", "zebedee") not in public
    with pytest.raises(ValueError):
        shared_ngrams(said, min_households=0)


def test_whisper_lists_a_kept_word_written_with_punctuation():
    """Transcripts carry punctuation ("bob," "Bob."); the word list counts words as the language
    model does, so a word kept by the household rule is listed however it was written."""
    said = ["Alexa, call Bob, please.", "alexa, call bob."]
    allowed = shared_ngrams([("hh_a", said[0]), ("hh_b", said[1])], min_households=2)
    assert ("bob",) in allowed
    listed = whisper_biasing(said, allowed=allowed)["domain_words"]
    assert isinstance(listed, str) and "bob" in listed.split() and "alexa" in listed.split()
    assert not any(ch in listed for ch in ",.")


def test_no_word_shared_and_no_seed_requests_writes_and_registers_no_model(
    platform, make_home, make_reviewed, tmp_path
):
    """One household alone, seed requests left out: every word is held back, and a model with no
    word would decode nothing; the run says why and leaves neither a file nor a version."""
    homes_saying(make_home, make_reviewed, (*COMMON, ONLY_ONE))
    models = tmp_path / "models"
    with pytest.raises(NothingToLearn, match="learn_min_households"):
        train_asr(platform, TrainOptions(models_dir=models, include_seed=False))
    assert not models.exists() or not any(models.iterdir())
    with platform.sessions() as s:
        assert list_versions(s, ModelKind.ASR) == []
    # with the seed requests the same data trains (their words always enter)
    result = train_asr(platform, TrainOptions(models_dir=models, include_seed=True))
    assert "zebedee" not in artifact_text(result.path)
