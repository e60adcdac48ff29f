"""The intent catalogue a lead extends, labelled files from elsewhere, and `train nlu` learning both."""

from __future__ import annotations

import json
import stat

import pytest

from overheard.errors import BadRequest
from overheard.learn.train_nlu import train_nlu
from overheard.learn.training import TrainOptions
from overheard.speech import catalogue
from overheard.speech.nlu import IntentModel
from overheard.speech.seed import seed_intents
from overheard.workbench.flow import intent_choices

CALLS = ["call mum", "ring my sister", "phone grandad", "give dad a call", "call the office"]


def test_added_intent_is_offered_to_reviewers_and_file_is_private(platform):
    assert "call_contact" not in intent_choices(platform)
    assert catalogue.add_intent(platform.settings, "Call_Contact", CALLS) == len(CALLS)
    choices = intent_choices(platform)
    assert choices[: len(seed_intents())] == seed_intents()
    assert "call_contact" in choices and choices[-1] == "none"
    path = catalogue.catalogue_file(platform.settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("intent", "examples", "code"),
    [
        ("call contact", ["call mum"], "bad_intent"),
        ("9lives", ["call mum"], "bad_intent"),
        ("call_contact", [], "no_examples"),
        ("call_contact", ["   "], "bad_example"),
        ("call_contact", ["call\tmum"], "bad_example"),
    ],
)
def test_bad_additions_are_refused_and_nothing_is_written(platform, intent, examples, code):
    with pytest.raises(BadRequest) as refused:
        catalogue.add_intent(platform.settings, intent, examples)
    assert refused.value.code == code
    assert not catalogue.catalogue_file(platform.settings).exists()


def test_labelled_files_in_three_formats(tmp_path):
    (tmp_path / "a.csv").write_text("text,intent\ncall mum,call_contact\nring bob,call_contact\n")
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"sentence": "Call Mum", "intent": "call_contact"}) + "\n\n"
    )
    (tmp_path / "c.tsv").write_text("call mum\tcall_contact\n")
    assert catalogue.read_labelled(tmp_path / "a.csv") == [
        ("call mum", "call_contact"),
        ("ring bob", "call_contact"),
    ]
    assert catalogue.read_labelled(tmp_path / "b.jsonl") == [("Call Mum", "call_contact")]
    assert catalogue.read_labelled(tmp_path / "c.tsv") == [("call mum", "call_contact")]


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("x.csv", "sentence,label\ncall mum,call\n", "bad_columns"),
        ("x.jsonl", '{"text": "call mum"}\n', "bad_row"),
        ("x.txt", "call mum\n", "bad_format"),
        ("x.tsv", "call mum\tCall Contact\n", "bad_intent"),
    ],
)
def test_unusable_labelled_files_are_refused(tmp_path, name, content, code):
    (tmp_path / name).write_text(content)
    with pytest.raises(BadRequest) as refused:
        catalogue.read_labelled(tmp_path / name)
    assert refused.value.code == code


def test_train_nlu_learns_the_catalogue_and_an_external_file(platform, tmp_path):
    catalogue.add_intent(platform.settings, "call_contact", CALLS)
    external = tmp_path / "more.jsonl"
    lines = ["set the thermostat to twenty", "make it warmer in here", "heat the house to 21"]
    external.write_text("".join(json.dumps({"text": t, "intent": "heating"}) + "\n" for t in lines))
    options = TrainOptions(
        models_dir=tmp_path / "models",
        actor="test",
        extra_examples=tuple(catalogue.read_labelled(external)),
    )
    result = train_nlu(platform, options)
    model = IntentModel.load(result.path)
    assert {"call_contact", "heating"} <= set(model.intents)
    assert model.predict("call my brother").intent == "call_contact"
    assert model.predict("make the house warmer").intent == "heating"
    assert result.stats["external_examples"] == len(CALLS) + len(lines)
