"""The train → approve → evaluate scenario through the commands, run on each database backend.

Each backend's run is a test file of its own (``test_evaluate_cli.py``, ``…_postgres.py``): it
takes minutes (whisper on the external held-out set), and a parallel run gives each test file to
one process.
"""

from __future__ import annotations

from pathlib import Path

import pyotp

from overheard.learn.models import SplitName

HELD = [
    ("alexa switch off the study lights", "lights_off"),
    ("alexa will it rain in norwich tomorrow", "weather"),
]
TRAIN = [
    ("alexa switch off the hallway lights", "lights_off"),
    ("alexa will it rain in york tonight", "weather"),
    ("alexa turn the study lights off", "lights_off"),
]


def train_approve_evaluate(  # type: ignore[no-untyped-def]
    make_home, make_reviewed, make_lead_login, speak, cli, tmp_path: Path, *, external: bool = True
):
    """Train both models from reviewed clips, approve the recogniser, export, evaluate; ``speak``
    and ``cli`` are the fixtures of ``tests/learn/conftest.py``. ``external``: also score the
    external held-out set (it reads no database, so one backend's run covers it)."""
    home, other = make_home(), make_home()
    for text, intent in TRAIN:
        make_reviewed(home, text, intent, pcm=speak(text))
    for text, intent in HELD:
        make_reviewed(other, text, intent, pcm=speak(text), split=SplitName.HELDOUT, confidence=0.3)
    # held-out side, but a training sentence, or a training household: never scored
    make_reviewed(other, *TRAIN[0], pcm=speak(TRAIN[0][0]), split=SplitName.HELDOUT)
    make_reviewed(home, "alexa play some folk", "music_play", split=SplitName.HELDOUT)
    assert "asr-0001: trained on 3 reviewed clips" in cli("train", "asr")
    assert "nlu-0001" in cli("train", "nlu")
    lead = make_lead_login()
    code = pyotp.TOTP(lead.secret).now()
    refused = cli("models", "approve", "asr-0001", "--actor", lead.pseudonym,
                  input=f"{lead.password}\n000000\n" if code != "000000" else "x\n1\n", exit_code=1)
    assert "wrong password or authenticator code" in refused
    assert "asr-0001  candidate" in cli("models", "list")  # a pseudonym alone approves nothing
    cli("models", "approve", "asr-0001", "--actor", lead.pseudonym, input=f"{lead.password}\n{code}\n")
    listing = cli("models", "list")
    assert "asr-0001  approved" in listing and "lineage " in listing
    out = cli("export", "--out", str(tmp_path / "ex"), "--split", "heldout")
    assert ": 4 clips" in out
    report = tmp_path / "report.html"
    out = cli("evaluate", "--report", str(report), "--external-voices", "en-us-nyc" if external else "")
    # the recogniser in use (whisper) before and after adaptation
    assert "whisper (unadapted)" in out and "asr-0001 (approved)" in out and "nlu-0001" in out
    assert "2 held-out clips scored" in out
    assert "left out: 1 same household, 1 same sentence" in out
    assert ("external held-out set: 40 spoken requests" in out) is external
    html = report.read_text()
    assert html.count("<svg") >= 4 and "low_confidence" in html and "Confusion" in html
    assert ("External held-out set" in html) is external
