"""Which whisper biasing the learning loop should build: none, hotwords, an initial prompt, or both.

Run: .venv/bin/python benchmarks/asr_adaptation.py
The biasing is built from the seed requests' train split (standing in for reviewed transcripts);
it is scored on wording it never saw: the phrasings of benchmarks/asr_wer.py (none is a seed
request) and the seed held-out split, spoken by espeak-ng (three voices) and, when installed, the
piper voice en_US-joe-medium. The unbiased recogniser is the baseline.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from asr_wer import ESPEAK_VOICES, NEW_REQUESTS, Clip, espeak, piper, piper_voice, table

from overheard.learn.train_asr import whisper_biasing
from overheard.speech import _whisper as wh
from overheard.speech.asr import AsrBackend, asr_from_spec
from overheard.speech.seed import seed_requests

PROMPT_SENTENCES = 12
"""Training sentences joined into the initial prompt (whisper reads at most ~220 tokens)."""


def spoken(texts: list[str]) -> list[Clip]:
    """Each text in every available voice."""
    rng = np.random.default_rng(1)
    clips = [(t, espeak(t, v, rng)) for t in texts for v in ESPEAK_VOICES]
    voice = piper_voice()
    return clips + ([(t, piper(voice, t, rng)) for t in texts] if voice is not None else [])


def main() -> None:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed")
    train = [r.text for r in seed_requests("train")]
    base = asr_from_spec("whisper")
    model_dir = base.model_dir  # type: ignore[attr-defined]
    hotwords = str(whisper_biasing(train)["domain_words"])
    prompt = ". ".join(train[:: len(train) // PROMPT_SENTENCES][:PROMPT_SENTENCES]) + "."
    rows: dict[str, AsrBackend] = {"none (baseline)": base}
    for label, biasing in {
        "hotwords": wh.Biasing(hotwords=hotwords),
        "initial prompt": wh.Biasing(initial_prompt=prompt),
        "both": wh.Biasing(initial_prompt=prompt, hotwords=hotwords),
    }.items():
        rows[label] = wh.WhisperBackend(model_dir, name=label, biasing=biasing)
    print(f"hotwords ({len(hotwords.split())}): {hotwords}")
    table("new phrasings (asr_wer.py)", spoken(list(NEW_REQUESTS)), rows)
    held = [r.text for r in seed_requests("heldout")][::8]
    table("seed held-out phrasings", spoken(held), rows)


if __name__ == "__main__":
    main()
