"""Whisper adaptation after ~200 reviewed clips, measured on wording it never saw.

Run: .venv/bin/python benchmarks/asr_adaptation.py [--reviewed 200] [--cache /tmp/overheard-asr-cache]
Stand-in for the reviewed transcripts: the seed training requests plus ``--reviewed`` sentences drawn
from the train side of the demo world's grammar (``overheard.learn.demo_world``), written as a
reviewer writes them ("alexa ..."). The language model is built from them exactly as
``overheard train asr`` builds it. Options:

- n-best rescoring: whisper's 5 best beam hypotheses rescored with the adapted trigram model,
  interpolated with the general en-us model (``overheard.speech._rescore``); weight and mix chosen
  on the tuning set only;
- hotwords: the frequent reviewed words that are rare in general English (general unigram
  probability below ``RARE_LN``), as faster-whisper ``hotwords``.

Sets (split by sentence and voice): tuning = the 24 phrasings of benchmarks/asr_wer.py (espeak-ng
en-us, en-gb, en+f3 + piper); demo held-out = sentences on the held-out side of the demo grammar
(in-domain, never trained on), spoken by ``en-gb-scotland`` + piper; external held-out = the shipped
``external_heldout_requests.txt`` (new wording) in ``en-gb-scotland`` + piper. Only the tuning set
chooses anything (the hotwords row, which has nothing to tune, is not run on it). Baseline: the unadapted recogniser, same decodes. n-best lists are cached.

``--min-households K [K ...]``: what the household rule of ``overheard train asr``
(``learn_min_households``) costs. Each reviewed stand-in is given to one of ``--households``
households at random (default 3: the demo world's training households), and the trigram model is
built as ``train asr`` builds it (seed n-grams always, reviewed n-grams only when K households said
them), for each K in the same run (K = 1 is the model before the rule). Rescoring uses the weight
and mix ``train asr`` ships; the tuning set (``--every``) is the one to choose K on, the two held-out
sets report; librivox, cards and the hotword rows are not run.

``--biasing tuning|heldout``: only decoding biasing — the hotwords ``train asr`` writes when
``BIAS_WITH_HOTWORDS`` is on, an initial prompt of 12 training sentences and a generic prompt —
each decoded with the model's tokenizer as shipped (the merge ``Ġ t`` missing) and with every
merge, against the plain decode, on the tuning set (``--every``) or, once the tuning set says so,
the two held-out sets.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from asr_choice import kept, spoken
from asr_wer import ESPEAK_VOICES, NEW_REQUESTS, Clip, normalise, piper, piper_voice, read_set

from overheard.learn.demo_world import phrasebook
from overheard.learn.heldout import external_requests, spoken_external
from overheard.learn.models import SplitName
from overheard.learn.train_asr import (
    RESCORE_MIX,
    RESCORE_WEIGHT,
    STOPWORDS,
    asr_sentences,
    seed_sentences,
    shared_ngrams,
    whisper_biasing,
)
from overheard.speech import _rescore as rs
from overheard.speech import _whisper as wh
from overheard.speech.lm import build_language_model, count_ngrams, normalise_words

NBEST = 5
BEAM = 5
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
MIXES = (0.2, 0.5, 0.8)
RARE_LN = -12.0
"""A word is rare in general English below this unigram log probability (about 1 in 160,000)."""
HOTWORDS = 20
EXTERNAL_VOICES = ("en-gb-scotland",)


def reviewed_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` training-side demo sentences as a reviewer writes them."""
    rng = random.Random(seed)
    train = phrasebook()[SplitName.TRAIN]
    return [f"alexa {rng.choice(train).text}" for _ in range(count)]


def reviewed_by_household(count: int, households: int, seed: int = 0) -> list[tuple[str, str]]:
    """The same sentences as :func:`reviewed_sentences`, each said by one of ``households``."""
    rng = random.Random(seed + 1)
    return [(f"hh_{rng.randrange(households)}", s) for s in reviewed_sentences(count, seed)]


def rare_hotwords(sentences: Sequence[str]) -> str:
    """The most frequent non-stop words of ``sentences`` that are rare in general English."""
    general = rs.general_model()
    counts = Counter(
        w for s in sentences for w in s.lower().split() if w not in STOPWORDS and w != "alexa"
    )
    rare = [
        w
        for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if (general.logprob(w, []) or -99.0) < RARE_LN
    ]
    return " ".join(rare[:HOTWORDS])


class NbestCache:
    """n-best lists of a model (the default unless given), kept on disk by audio."""

    def __init__(
        self,
        cache: Path,
        hotwords: str | None = None,
        model_dir: Path | None = None,
        initial_prompt: str | None = None,
        shipped_tokenizer: bool = False,
    ) -> None:
        self.model_dir = model_dir or wh.package_model_dir(wh.DEFAULT_PACKAGE)
        self.loaded = wh.load_model(self.model_dir)
        parts = ["nbest", BEAM, NBEST, hotwords, str(self.model_dir.resolve()), initial_prompt]
        if hotwords or initial_prompt:  # the tokenizer only matters where text is encoded
            parts.append("shipped tokenizer" if shipped_tokenizer else "every merge")
        self.tokenizer = shipped(self.model_dir) if shipped_tokenizer else None
        """The model's ``tokenizer.json`` as shipped (``Ġ t`` missing), for the baseline."""
        key = json.dumps(parts, sort_keys=True)
        self.folder = cache / hashlib.sha256(key.encode()).hexdigest()[:16]
        self.hotwords = hotwords
        self.initial_prompt = initial_prompt
        self.seconds = 0.0
        """Decode seconds of the lists returned so far (cached ones: as measured when decoded)."""

    def get(self, pcm: np.ndarray) -> list[rs.Hypothesis]:
        path = self.folder / f"{hashlib.sha256(pcm.tobytes()).hexdigest()[:24]}.json"
        if path.is_file():
            found = json.loads(path.read_text())
            self.seconds += found["s"]
            return [rs.Hypothesis((), t, lp) for t, lp in found["h"]]
        audio = pcm.astype(np.float32) / wh.PCM_SCALE
        model = self.loaded.model
        mended = model.hf_tokenizer
        started = time.perf_counter()
        try:
            model.hf_tokenizer = self.tokenizer or mended
            found, *_ = rs.nbest(
                model,
                audio,
                beam_size=BEAM,
                n=NBEST,
                suppress_tokens=self.loaded.suppress_tokens,
                hotwords=self.hotwords,
                initial_prompt=self.initial_prompt,
            )
        finally:
            model.hf_tokenizer = mended
        took = time.perf_counter() - started
        self.seconds += took
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"h": [[h.text, h.logprob] for h in found], "s": took}))
        return found


def shipped(model_dir: Path):  # type: ignore[no-untyped-def]
    """The ``tokenizer.json`` beside the model (or one of its parts), as shipped."""
    import tokenizers

    folders = [model_dir, *(p.parent for p in wh.model_parts(model_dir))]
    path = next(f / wh.TOKENIZER_FILE for f in folders if (f / wh.TOKENIZER_FILE).is_file())
    return tokenizers.Tokenizer.from_file(str(path))


def words_of(text: str) -> list[str]:
    return normalise(text).split() if normalise(text) != "<empty>" else []


def best(hyps: list[rs.Hypothesis], rescorer: rs.Rescorer | None) -> str:
    """The beam's top (``None``) or the rescored best hypothesis, normalised."""
    if rescorer is None:
        return normalise(hyps[0].text)
    scored = [(rescorer.score(h, words_of(h.text)), i) for i, h in enumerate(hyps)]
    return normalise(hyps[max(scored)[1]].text)


def set_wer(nbests: list[list[rs.Hypothesis]], clips: Sequence[Clip], rescorer) -> float:
    refs = [normalise(r) for r, _ in clips]
    return jiwer.wer(refs, [best(h, rescorer) for h in nbests])


def decode_sets(cache, model_dir, sets):  # type: ignore[no-untyped-def]
    """The plain n-best of every clip of ``sets`` (cached), and each set's real-time factor."""
    plain = NbestCache(cache, model_dir=model_dir)
    print(f"model: {plain.model_dir}")
    nb, rtf = {}, {}
    for name, clips in sets.items():
        plain.seconds = 0.0
        nb[name] = [plain.get(p) for _, p in clips]
        rtf[name] = plain.seconds / (sum(len(p) for _, p in clips) / 16000)
    return nb, rtf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviewed", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/overheard-asr-cache"))
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1].parent / "shared" / "data"
    )
    parser.add_argument(
        "--model",
        default="",
        help="the recogniser's model as whisper:<model> names it (package or folder); default model",
    )
    parser.add_argument(
        "--every", type=int, default=1, help="keep every n-th clip of the tuning set"
    )
    parser.add_argument("--no-hotwords", action="store_true", help="skip the hotword rows")
    parser.add_argument(
        "--min-households",
        type=int,
        nargs="+",
        default=[],
        help="only the household rule: rescoring with n-grams of at least K households, per K",
    )
    parser.add_argument("--households", type=int, default=3, help="households of the stand-ins")
    parser.add_argument(
        "--biasing",
        choices=("tuning", "heldout"),
        help="only the decoding biasing (train asr's hotwords, an initial prompt of training "
        "sentences), each encoded with the tokenizer as shipped and with every merge, on the "
        "tuning set (--every) or the two held-out sets",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        default=[],
        help="with --biasing: only these rows (hotwords, 'initial prompt', 'generic prompt')",
    )
    args = parser.parse_args()
    model_dir = wh.model_dir_for(args.model) if args.model else None
    if args.min_households:
        households_only(args, model_dir)
        return
    if args.biasing:
        biasing_only(args, model_dir)
        return
    train = asr_sentences([], include_seed=True) + reviewed_sentences(args.reviewed)
    lm_dir = Path(tempfile.mkdtemp(prefix="asr-adapt-"))
    build_language_model(train, lm_dir)
    domain = rs.NgramModel(lm_dir / "lm.arpa")
    class_dir = Path(tempfile.mkdtemp(prefix="asr-adapt-class-"))
    build_language_model([" ".join(rs.number_classed(s.split())) for s in train], class_dir)
    classed = rs.ClassModel(rs.NgramModel(class_dir / "lm.arpa"))
    general = rs.general_model()
    held_demo = [r.text for r in phrasebook()[SplitName.HELDOUT]][::7]
    voice = piper_voice()
    rng = np.random.default_rng(3)
    sets: dict[str, list[Clip]] = {
        "tuning (asr_wer phrasings)": kept(
            args.cache, "tuning", lambda: spoken(NEW_REQUESTS, ESPEAK_VOICES, seed=0)
        )[:: args.every],
        "demo held-out sentences": kept(
            args.cache,
            "demo-heldout",
            lambda: (
                [(s.text, s.pcm) for s in _spoken_texts(held_demo, ("en-gb-scotland",))]
                + ([(t, piper(voice, t, rng)) for t in held_demo] if voice else [])
            ),
        ),
        "external held-out": kept(
            args.cache,
            "external-adaptation",
            lambda: (
                [(s.text, s.pcm) for s in spoken_external(EXTERNAL_VOICES)]
                + ([(t, piper(voice, t, rng)) for t in external_requests()] if voice else [])
            ),
        ),
    }
    asr_dir = args.data / "asr"
    if (
        asr_dir.is_dir()
    ):  # out of domain: what rescoring costs where the domain model does not apply
        sets["librivox"] = read_set(asr_dir / "librivox", "transcription")
        sets["cards"] = read_set(asr_dir / "cards", "cards.transcription")
    nb, rtf = decode_sets(args.cache, model_dir, sets)
    tuning = "tuning (asr_wer phrasings)"
    print(f"training sentences: {len(train)} (seed + {args.reviewed} reviewed stand-ins)")
    chosen = {}
    for label, lm in (("trigram", domain), ("number-class trigram", classed)):
        grid = {
            (w, m): set_wer(nb[tuning], sets[tuning], rs.Rescorer(lm, general, w, m))
            for w, m in itertools.product(WEIGHTS, MIXES)
        }
        chosen[label] = min(grid.items(), key=lambda kv: (round(kv[1], 6), kv[0][0]))[0]
        print(f"{label} tuning grid (weight, mix -> WER): ")
        print("  " + ", ".join(f"{k}: {v:.3f}" for k, v in grid.items()))
        print(f"  chosen on the tuning set: weight {chosen[label][0]}, mix {chosen[label][1]}")
    hot = rare_hotwords(train)
    print(f"rare hotwords ({len(hot.split())}): {hot}")
    biased = NbestCache(args.cache, hotwords=hot, model_dir=model_dir)
    (w3, m3), (wc, mc) = chosen["trigram"], chosen["number-class trigram"]
    untuned = (tuning, "librivox", "cards")  # hotword rows: nothing to tune, not run there

    def with_hotwords(name: str, rescorer: rs.Rescorer | None) -> float:
        if name in untuned:
            return float("nan")
        return set_wer([biased.get(p) for _, p in sets[name]], sets[name], rescorer)

    rows = {
        "none (baseline, beam top)": lambda name: set_wer(nb[name], sets[name], None),
        f"n-best rescoring, trigram (weight {w3}, mix {m3})": lambda name: set_wer(
            nb[name], sets[name], rs.Rescorer(domain, general, w3, m3)
        ),
        f"n-best rescoring, number-class trigram (weight {wc}, mix {mc})": lambda name: set_wer(
            nb[name], sets[name], rs.Rescorer(classed, general, wc, mc)
        ),
        "hotwords: rare frequent words": lambda name: with_hotwords(name, None),
        "hotwords + number-class rescoring": lambda name: with_hotwords(
            name, rs.Rescorer(classed, general, wc, mc)
        ),
    }
    if args.no_hotwords:
        rows = {k: v for k, v in rows.items() if not k.startswith("hotwords")}
    print("\n| adaptation | " + " | ".join(f"{k} WER" for k in sets) + " |")
    print("|" + " --- |" * (len(sets) + 1))
    for label, run in rows.items():
        print(f"| {label} | " + " | ".join(f"{run(k):.3f}" for k in sets) + " |", flush=True)
    counts = ", ".join(f"{k}: {len(v)} clips, n-best RTF {rtf[k]:.2f}" for k, v in sets.items())
    print(f"\n{counts}")


PROMPT_SENTENCES = 12
GENERIC_PROMPT = "A short spoken request to a voice assistant at home."
"""The prompt of benchmarks/asr_decoding.py (docs/models/asr.md, sixth look)."""


def biasing_only(args: argparse.Namespace, model_dir: Path | None) -> None:
    """The hotwords ``train asr`` would write (``BIAS_WITH_HOTWORDS``) and an initial prompt of
    training sentences, each encoded with the model's tokenizer as shipped (``Ġ t`` missing: " the"
    is " ", "t", "he") and with every merge (``_whisper.with_every_merge``), against the plain
    decode; WER of the beam's top and of the trigram rescoring ``train asr`` ships."""
    train = asr_sentences([], include_seed=True) + reviewed_sentences(args.reviewed)
    lm_dir = Path(tempfile.mkdtemp(prefix="asr-adapt-"))
    build_language_model(train, lm_dir)
    rescorer = rs.Rescorer(
        rs.NgramModel(lm_dir / "lm.arpa"), rs.general_model(), RESCORE_WEIGHT, RESCORE_MIX
    )
    hot = str(whisper_biasing(train)["domain_words"])
    prompt = ". ".join(train[:: len(train) // PROMPT_SENTENCES][:PROMPT_SENTENCES]) + "."
    if args.biasing == "tuning":
        tuning = kept(args.cache, "tuning", lambda: spoken(NEW_REQUESTS, ESPEAK_VOICES, seed=0))
        sets = {f"tuning (every {args.every})": tuning[:: args.every]}
    else:
        sets = heldout_sets(args.cache)
    nb, _ = decode_sets(args.cache, model_dir, sets)
    print(f"training sentences: {len(train)} (seed + {args.reviewed} reviewed stand-ins)")
    print(f"hotwords ({len(hot.split())}): {hot}")
    print(f"initial prompt ({PROMPT_SENTENCES} training sentences): {prompt}")
    decodes = {"none": None}
    variants = (
        ("hotwords", {"hotwords": hot}),
        ("initial prompt", {"initial_prompt": prompt}),
        ("generic prompt", {"initial_prompt": GENERIC_PROMPT}),
    )
    for label, kwargs in variants:
        if args.only and label not in args.only:
            continue
        for tok, shipped_tokenizer in (("as shipped", True), ("every merge", False)):
            decodes[f"{label}, tokenizer {tok}"] = NbestCache(
                args.cache, model_dir=model_dir, shipped_tokenizer=shipped_tokenizer, **kwargs
            )
    print("\n| decode | " + " | ".join(f"{k}: top WER | rescored WER" for k in sets) + " |")
    print("|" + " --- |" * (2 * len(sets) + 1))
    for label, cache in decodes.items():
        cells = []
        for name, clips in sets.items():
            lists = nb[name] if cache is None else [cache.get(p) for _, p in clips]
            cells += [f"{set_wer(lists, clips, r):.3f}" for r in (None, rescorer)]
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
    print("\n" + ", ".join(f"{k}: {len(v)} clips" for k, v in sets.items()))


def heldout_sets(cache: Path) -> dict[str, list[Clip]]:
    """The demo held-out and external held-out sets, as :func:`main` builds them."""
    held_demo = [r.text for r in phrasebook()[SplitName.HELDOUT]][::7]
    voice = piper_voice()
    rng = np.random.default_rng(3)
    return {
        "demo held-out sentences": kept(
            cache,
            "demo-heldout",
            lambda: (
                [(s.text, s.pcm) for s in _spoken_texts(held_demo, ("en-gb-scotland",))]
                + ([(t, piper(voice, t, rng)) for t in held_demo] if voice else [])
            ),
        ),
        "external held-out": kept(
            cache,
            "external-adaptation",
            lambda: (
                [(s.text, s.pcm) for s in spoken_external(EXTERNAL_VOICES)]
                + ([(t, piper(voice, t, rng)) for t in external_requests()] if voice else [])
            ),
        ),
    }


def households_only(args: argparse.Namespace, model_dir: Path | None) -> None:
    """Rescoring with the model ``train asr`` builds, for each household threshold, same decodes."""
    said = reviewed_by_household(args.reviewed, args.households)
    seed = seed_sentences(True)
    train = seed + [s for _, s in said]
    reviewed_counts = count_ngrams([normalise_words(s) for _, s in said], 3)
    general = rs.general_model()
    models: dict[int, rs.NgramModel] = {}
    print(f"training sentences: {len(train)} (seed + {args.reviewed} reviewed stand-ins said by")
    print(f"  {args.households} households; weight {RESCORE_WEIGHT}, mix {RESCORE_MIX})")
    for k in sorted({1, *args.min_households}):
        allowed = shared_ngrams(said, min_households=k, public=seed)
        lm_dir = Path(tempfile.mkdtemp(prefix=f"asr-adapt-k{k}-"))
        build_language_model(train, lm_dir, allowed=allowed)
        models[k] = rs.NgramModel(lm_dir / "lm.arpa")
        kept_share = [sum(1 for ng in c if ng in allowed) / len(c) for c in reviewed_counts]
        print(
            f"  K={k}: distinct reviewed n-grams kept (orders 1-3): "
            + ", ".join(f"{x:.2f}" for x in kept_share)
        )
    tuning = kept(args.cache, "tuning", lambda: spoken(NEW_REQUESTS, ESPEAK_VOICES, seed=0))
    sets = {"tuning (asr_wer phrasings)": tuning[:: args.every], **heldout_sets(args.cache)}
    nb, rtf = decode_sets(args.cache, model_dir, sets)
    print("\n| adaptation | " + " | ".join(f"{k} WER" for k in sets) + " |")
    print("|" + " --- |" * (len(sets) + 1))
    print(
        "| none (baseline) | "
        + " | ".join(f"{set_wer(nb[n], sets[n], None):.3f}" for n in sets)
        + " |"
    )
    for k, lm in models.items():
        rescorer = rs.Rescorer(lm, general, RESCORE_WEIGHT, RESCORE_MIX)
        label = (
            "rescoring, every reviewed n-gram (before)"
            if k == 1
            else f"rescoring, n-grams of >= {k} households"
        )
        print(
            f"| {label} | "
            + " | ".join(f"{set_wer(nb[n], sets[n], rescorer):.3f}" for n in sets)
            + " |"
        )
    counts = ", ".join(f"{k}: {len(v)} clips, n-best RTF {rtf[k]:.2f}" for k, v in sets.items())
    print(f"\n{counts}", flush=True)


def _spoken_texts(texts: Sequence[str], voices: Sequence[str]):
    from overheard.demo import synthesise
    from overheard.learn.heldout import NOISE_FLOOR, PAD_SAMPLES, SpokenRequest

    rng = np.random.default_rng(4)
    for text in texts:
        for v in voices:
            pcm = synthesise(text, v).astype(np.float64) / 32768.0
            pad = np.zeros(PAD_SAMPLES)
            audio = np.concatenate([pad, pcm, pad]) + rng.normal(
                0, NOISE_FLOOR, pcm.size + 2 * PAD_SAMPLES
            )
            yield SpokenRequest(text, v, (audio * 32767).clip(-32768, 32767).astype(np.int16))


if __name__ == "__main__":
    main()
