"""Intent model: held-out seed phrasings, slots, privacy-command near misses, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from overheard.speech.asr import Transcript, Word
from overheard.speech.guard import DeletionGuard, judge
from overheard.speech.nlu import (
    IntentModel,
    Interpretation,
    default_intent_model,
    extract_slots,
    is_privacy_command,
    train_intent_model,
)
from overheard.speech.seed import seed_intents, seed_requests

HELDOUT_ACCURACY_FLOOR = 0.60
"""Measured 0.71 on the held-out phrasings (benchmarks/nlu.py); they share few words with training."""
REQUIRED_INTENTS = {
    "weather", "timer_set", "timer_cancel", "alarm_set", "music_play", "music_stop", "volume",
    "lights_on", "lights_off", "shopping_add", "shopping_list", "general_question", "time_query",
    "delete_last", "delete_today",
}  # fmt: skip


@pytest.fixture(scope="module")
def model() -> IntentModel:
    return default_intent_model()


def test_seed_set_covers_the_intents() -> None:
    assert set(seed_intents()) >= REQUIRED_INTENTS
    assert len(seed_requests("train")) >= 300
    train = {r.text for r in seed_requests("train")}
    assert not train & {r.text for r in seed_requests("heldout")}


def test_heldout_phrasings(model: IntentModel) -> None:
    heldout = seed_requests("heldout")
    correct = sum(model.predict(r.text).intent == r.intent for r in heldout)
    assert correct / len(heldout) >= HELDOUT_ACCURACY_FLOOR


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("could you set a timer for twelve minutes", "timer_set"),
        ("what's the weather going to be like in rome", "weather"),
        ("switch off the lights in the basement", "lights_off"),
        ("please add olive oil to my shopping list", "shopping_add"),
        ("erase everything i said today", "delete_today"),
        ("forget what i just told you", "delete_last"),
    ],
)
def test_new_requests(model: IntentModel, text: str, intent: str) -> None:
    assert model.predict(text).intent == intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("delete the milk from my shopping list", "shopping_remove"),
        ("remove bread from the grocery list", "shopping_remove"),
        ("delete my alarm for seven am", "alarm_cancel"),
        ("delete the timer", "timer_cancel"),
        ("clear my shopping list", "shopping_remove"),
        ("delete the alarm i just set", "alarm_cancel"),
        ("forget the timer", "timer_cancel"),
        ("delete the song that is playing", "music_skip"),
    ],
)
def test_near_misses_are_not_deletions(model: IntentModel, text: str, intent: str) -> None:
    interp = model.predict(text)
    assert interp.intent == intent
    assert is_privacy_command(interp) is None


@pytest.mark.parametrize(
    "text",
    [
        "delete my last alarm",
        "delete the reminder i just made",
        "forget the milk",
        "forget about the eggs",
        "don't let me forget to buy carrots",
        "note that we need potatoes",
        "did you hear what i just said",
        "repeat the last thing i said",
        "that is not what i said today",
    ],
)
def test_risky_phrasings_never_delete(model: IntentModel, text: str) -> None:
    """Phrasings that share words with deletion commands are neither obeyed nor asked about by the
    deletion guard the pipeline acts through (heard perfectly, spoken briefly)."""
    words = tuple(Word(w, i * 0.3, i * 0.3 + 0.25, 1.0) for i, w in enumerate(text.split()))
    transcript = Transcript(text, words, 1.0, "whisper:reference")
    assert judge(DeletionGuard(), model.predict(text), transcript, 1.5).command is None


def test_heldout_privacy_commands_are_mostly_obeyed(model: IntentModel) -> None:
    commands = [r for r in seed_requests("heldout") if r.intent.startswith("delete_")]
    obeyed = sum(is_privacy_command(model.predict(r.text)) == r.intent for r in commands)
    assert obeyed / len(commands) >= 0.8


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("delete what i just said", "delete_last"),
        ("please forget that", "delete_last"),
        ("delete everything i said today", "delete_today"),
    ],
)
def test_privacy_commands(model: IntentModel, text: str, command: str) -> None:
    assert is_privacy_command(model.predict(text)) == command


def test_confidence_floor() -> None:
    assert is_privacy_command(Interpretation("delete_today", 0.4, {})) is None
    assert is_privacy_command(Interpretation("delete_today", 0.95, {})) == "delete_today"
    assert is_privacy_command(Interpretation("weather", 0.99, {})) is None


@pytest.mark.parametrize(
    ("intent", "text", "slots"),
    [
        ("timer_set", "set a timer for 10 minutes", {"duration": "10 minutes"}),
        ("timer_set", "start a five minute timer", {"duration": "five minute"}),
        ("alarm_set", "wake me up at six thirty am", {"time": "six thirty am"}),
        ("alarm_set", "set an alarm for 7:30 tomorrow", {"time": "7:30"}),
        ("weather", "will it rain in new york tomorrow", {"city": "new york"}),
        ("weather", "what's the weather like today", {}),
        ("volume", "set the volume to 7", {"level": "7"}),
        ("shopping_add", "add paper towels to my shopping list", {"item": "paper towels"}),
        ("shopping_remove", "take eggs off the list", {"item": "eggs"}),
        ("lights_on", "turn on the living room lights", {"room": "living room"}),
        ("music_play", "play some jazz in the kitchen", {"genre": "jazz", "room": "kitchen"}),
        ("music_play", "play songs by nina simone", {"artist": "nina simone"}),
        ("music_play", "play music", {}),
    ],
)
def test_slots(intent: str, text: str, slots: dict[str, str]) -> None:
    assert extract_slots(intent, text) == slots


def test_probabilities_are_distributions(model: IntentModel) -> None:
    probs = model.probabilities(["turn it up", "who painted the mona lisa"])
    assert probs.shape == (2, len(model.intents))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_save_load_round_trip(model: IntentModel, tmp_path: Path) -> None:
    path = tmp_path / "intent.npz"
    model.save(path)
    loaded = IntentModel.load(path)
    texts = [r.text for r in seed_requests("heldout")]
    assert loaded.intents == model.intents
    np.testing.assert_array_equal(loaded.probabilities(texts), model.probabilities(texts))
    assert [loaded.predict(t) for t in texts] == [model.predict(t) for t in texts]


def test_two_class_model_round_trips(tmp_path: Path) -> None:
    small = train_intent_model(
        [("lights on", "on"), ("turn the lights on", "on"), ("lights off", "off"), ("off", "off")]
    )
    small.save(tmp_path / "two.npz")
    again = IntentModel.load(tmp_path / "two.npz")
    assert again.predict("lights on please").intent == small.predict("lights on please").intent
    np.testing.assert_allclose(again.probabilities(["on"]), small.probabilities(["on"]))


def test_direct_features_equal_the_vectorisers(tmp_path: Path) -> None:
    """The request-time TF-IDF rows are exactly the two scikit-learn transforms side by side."""
    from scipy.sparse import hstack

    seed = [(r.text, r.intent) for r in seed_requests("train")]
    model = train_intent_model(seed)
    model.save(tmp_path / "m.npz")
    texts = [r.text.lower() for r in seed_requests("heldout")] + ["", "zzz qqq", "it's 6 o'clock"]
    for fitted in (model, IntentModel.load(tmp_path / "m.npz")):
        direct = fitted._features(texts).toarray()  # first: a loaded model has not transformed yet
        expected = hstack([fitted._word.transform(texts), fitted._char.transform(texts)])
        assert np.allclose(direct, expected.toarray(), atol=1e-12)


def test_embedding_layers_are_saved_and_older_files_read_the_last_layer(tmp_path: Path) -> None:
    """The layers the embedding classifier reads go into the file; a file saved before they were
    recorded gets the last layer alone (the encoder's sentence embedding), as it was fitted on."""
    import json

    asked: list[tuple[int, ...]] = []

    def fake(texts, layers):  # type: ignore[no-untyped-def]
        asked.append(layers)
        return np.array([[len(t), t.count("on"), 1.0] for t in texts]) / 10

    examples = [("lights on", "on"), ("turn the lights on", "on"), ("lights off", "off")]
    model = train_intent_model([*examples, ("off", "off")], embeddings=True, encoder=fake)
    assert asked == [model.embedding_layers]
    model.save(tmp_path / "m.npz")
    assert IntentModel.load(tmp_path / "m.npz").embedding_layers == model.embedding_layers
    with np.load(tmp_path / "m.npz") as saved:
        arrays = {name: saved[name] for name in saved.files}
    header = json.loads(str(arrays["header"]))
    del header["embedding_layers"]
    arrays["header"] = np.array(json.dumps(header))
    np.savez(tmp_path / "old.npz", **arrays)
    assert IntentModel.load(tmp_path / "old.npz").embedding_layers == (6,)
