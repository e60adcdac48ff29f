"""An intent model holds only words several households said (``learn_min_households``).

`train nlu` writes the TF-IDF vocabularies (word and character n-grams) and the classifiers' weights
into ``nlu-*.npz``; a name or an address one household said must not be in any of it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from overheard.learn.reviewed import Example, ReviewedClip
from overheard.learn.train_asr import NothingToLearn
from overheard.learn.train_nlu import build_nlu, shared_features, train_nlu
from overheard.learn.training import TrainOptions
from overheard.speech.nlu import IntentModel

NAME = "zebedee"
STREET = "quincebury"
ONLY_ONE = (f"alexa call {NAME} at forty two {STREET} lane", "call")
"""Said by one household only: a name and an address."""
COMMON = (
    ("alexa switch on the kitchen lights", "lights_on"),
    ("alexa turn off the bedroom lights", "lights_off"),
    ("alexa call mum", "call"),
)
SHARED = ("alexa add metformin to the shopping list", "shopping_add")


@pytest.fixture
def settings(settings, request):  # type: ignore[no-untyped-def]
    """The parent settings, with ``learn_min_households`` set when parametrised."""
    k = getattr(request, "param", None)
    return settings if k is None else settings.model_copy(update={"learn_min_households": k})


def npz_contents(path: Path) -> tuple[dict[str, np.ndarray], bytes]:
    """Every array of the file (loaded without pickle: it holds no pickled object) and every member
    of the archive uncompressed, side by side."""
    with np.load(path, allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    with zipfile.ZipFile(path) as archive:
        raw = b"".join(archive.read(name) for name in archive.namelist())
    return arrays, raw


def holds(path: Path, word: str) -> bool:
    """Whether ``word`` is anywhere in the model file: in a string array (the JSON header with the
    vocabularies and classes), or in the raw bytes in UTF-8 or numpy's UTF-32."""
    arrays, raw = npz_contents(path)
    strings = [str(a) for a in arrays.values() if a.dtype.kind in "US"]
    return (
        any(word in s for s in strings) or word.encode() in raw or word.encode("utf-32-le") in raw
    )


def homes_saying(make_home, make_reviewed, *said) -> None:  # type: ignore[no-untyped-def]
    for requests in said:
        home = make_home()
        for text, intent in requests:
            make_reviewed(home, text, intent)


def test_a_name_one_household_said_is_nowhere_in_the_intent_model(
    platform, make_home, make_reviewed, tmp_path
):
    homes_saying(make_home, make_reviewed, (*COMMON, ONLY_ONE, SHARED), (*COMMON, SHARED))
    result = train_nlu(platform, TrainOptions(models_dir=tmp_path / "m", include_seed=False))
    arrays, _ = npz_contents(result.path)
    assert {a.dtype.kind for a in arrays.values()} <= {"U", "f"}  # no object array
    for word in (NAME, STREET):
        assert not holds(result.path, word)
    header = json.loads(str(arrays["header"]))
    assert "metformin" in header["word_vocabulary"]  # two households said it
    assert "kitchen lights" in header["word_vocabulary"]
    assert "lane" not in header["word_vocabulary"] and "forty two" not in header["word_vocabulary"]
    assert result.stats["min_households"] == 2
    assert (
        IntentModel.load(result.path).predict("add metformin to my list").intent == "shopping_add"
    )


@pytest.mark.parametrize("settings", [1], indirect=True)
def test_with_the_rule_off_one_household_s_name_enters(
    platform, make_home, make_reviewed, tmp_path
):
    """The check above can fail: with ``learn_min_households`` 1 the same data puts the name in."""
    homes_saying(make_home, make_reviewed, (*COMMON, ONLY_ONE, SHARED), (*COMMON, SHARED))
    result = train_nlu(platform, TrainOptions(models_dir=tmp_path / "m", include_seed=False))
    assert holds(result.path, NAME) and holds(result.path, STREET)


def example(household: str, text: str, intent: str, n: int) -> Example:
    return Example(ReviewedClip(f"rec{n}", f"ann{n}", household, "random", 2.0, 0.9), text, intent)


def build(tmp_path: Path, name: str, said, k: int, **kwargs) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / f"{name}.npz"
    examples = [example(h, t, i, n) for n, (h, (t, i)) in enumerate(said)]
    build_nlu(examples, path, include_seed=False, min_households=k, **kwargs)
    return path


def test_two_households_saying_a_name_put_it_in(tmp_path):
    said = [(h, r) for h in ("hh_a", "hh_b") for r in (*COMMON, ONLY_ONE)]
    said += [("hh_c", r) for r in COMMON]
    assert holds(build(tmp_path, "two", said, 2), NAME)
    assert not holds(build(tmp_path, "three", said, 3), NAME)  # two are not three


def test_the_sentence_encoder_never_reads_what_one_household_alone_said(tmp_path):
    """The embedding classifier's weights are the same whichever name and street one household
    alone said (the encoder read its request without them); with the rule off they differ."""
    others = [(h, r) for h in ("hh_b", "hh_c") for r in (*COMMON, SHARED)]
    other_name = ("alexa call quentin at forty two medlarfield lane", "call")
    for k, same in ((2, True), (1, False)):
        first = build(tmp_path, f"a{k}", [*others, ("hh_a", ONLY_ONE)], k, embeddings=True)
        second = build(tmp_path, f"b{k}", [*others, ("hh_a", other_name)], k, embeddings=True)
        a, _ = npz_contents(first)
        b, _ = npz_contents(second)
        assert a["embed_coef"].size > 0
        assert np.array_equal(a["embed_coef"], b["embed_coef"]) is same


def test_seed_and_external_examples_always_enter(tmp_path):
    said = [("hh_a", r) for r in COMMON]
    path = build(tmp_path, "x", said, 2, extra=[(f"ring {NAME} please", "call")])
    assert holds(path, NAME)  # from the external labelled file: no household said it


def test_shared_features_counts_households_not_repetitions():
    said = [("hh_a", ONLY_ONE[0])] * 4 + [("hh_b", "alexa call mum")]
    words, chars = shared_features(said, min_households=2)
    assert {"alexa", "call", "alexa call"} <= words and NAME not in words and "mum" not in words
    assert "mum" not in chars and " ze" not in chars and "al" in chars
    words, _ = shared_features(said, min_households=2, public=[f"call {NAME}"])
    assert NAME in words and f"call {NAME}" in words and "at forty" not in words
    with pytest.raises(ValueError):
        shared_features(said, min_households=0)


def test_no_feature_to_learn_is_refused_clearly(tmp_path):
    said = [("hh_a", r) for r in COMMON]
    with pytest.raises(NothingToLearn, match="learn_min_households"):
        build(tmp_path, "none", said, 2)
