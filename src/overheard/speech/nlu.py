"""Intent understanding: TF-IDF word and character n-grams + multinomial logistic regression, rule slots.

The fitted parameters are saved as a plain ``.npz`` (arrays plus a JSON header, no pickle) and the
model is rebuilt from them. See docs/models/nlu.md for data and measured accuracy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from overheard.speech.seed import seed_requests

PrivacyCommand = Literal["delete_last", "delete_today"]
PRIVACY_INTENTS: tuple[PrivacyCommand, ...] = ("delete_last", "delete_today")
PRIVACY_CONFIDENCE_FLOOR = 0.8
"""A deletion command is obeyed only at this intent probability or above: a missed command can be
repeated, a wrong deletion cannot be undone (docs/models/nlu.md has the measurements)."""
DELETION_WORDS = re.compile(
    r"\b(delete|forget|erase|remove|wipe|discard|clear|scratch|scrap|purge|destroy|throw (?:it )?(?:away|out)"
    r"|get rid|don't (?:keep|save|store|record))"
)
"""A privacy intent is only predicted for a request that says to delete, in one of these words."""
REGULARISATION_C = 20.0
MAX_ITERATIONS = 2000
FORMAT_VERSION = 1
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_C = 5.0
"""Regularisation of the embedding classifier (chosen on HWU64 folds 1-7 -> fold 8, never fold 9)."""
EMBEDDING_WEIGHT = 1.5
"""Weight of the embedding classifier's log-odds beside the n-gram one's (chosen with
``benchmarks/nlu.py --tune`` on folds 1-7 -> fold 8, never on the test fold)."""
EMBEDDING_LAYERS: tuple[int, ...] = (6,)
"""The encoder layers (1..6) whose mean-pooled outputs the embedding classifier reads side by side:
the last alone, the model's sentence embedding (layers 3 and 6 measured, docs/models/nlu.md;
``benchmarks/nlu.py --layers 3 6``). Saved in the model file; older files read (6,)."""
Encoder = Callable[[Sequence[str], tuple[int, ...]], np.ndarray]
"""Texts and encoder layers in, one embedding row per text out."""
_WORD_PARAMS: dict[str, Any] = {
    "analyzer": "word",
    "ngram_range": (1, 2),
    "sublinear_tf": True,
    "token_pattern": r"(?u)\b[\w']+\b",
}
_CHAR_PARAMS: dict[str, Any] = {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True}


@dataclass
class Interpretation:
    """What a request asks for."""

    intent: str
    confidence: float
    """Probability of the intent, 0..1."""
    slots: dict[str, str] = field(default_factory=dict)


class IntentModel:
    """Intent classifier with rule-based slot extraction.

    Word and character n-grams feed one logistic regression; with ``embeddings=True`` a second one
    reads all-MiniLM-L6-v2 sentence embeddings and the two add their log-odds (a product of
    experts): the n-grams know the exact wording seen, the embeddings know paraphrases.
    """

    def __init__(self, *, embeddings: bool = False, encoder: Encoder | None = None) -> None:
        self._word = TfidfVectorizer(**_WORD_PARAMS)
        self._char = TfidfVectorizer(**_CHAR_PARAMS)
        self._classes: np.ndarray = np.array([], dtype=str)
        self._coef: np.ndarray = np.zeros((0, 0))
        self._intercept: np.ndarray = np.zeros(0)
        self.embeddings = embeddings
        self._encode: Encoder = encoder or _embed
        self._embed_coef: np.ndarray = np.zeros((0, 0))
        self._embed_intercept: np.ndarray = np.zeros(0)
        self.embedding_layers = EMBEDDING_LAYERS

    @property
    def intents(self) -> tuple[str, ...]:
        """The intents this model can answer."""
        return tuple(str(c) for c in self._classes)

    def fit(
        self,
        texts: Sequence[str],
        intents: Sequence[str],
        *,
        features: tuple[Collection[str], Collection[str]] | None = None,
    ) -> IntentModel:
        """Learn from example requests; returns ``self``.

        ``features``: the only word and character n-grams the vocabularies may hold (all the texts
        have, otherwise). The sentence encoder then reads each text without its words outside the
        word vocabulary, so nothing of the model depends on a word it may not hold.
        """
        encoded = texts
        if features is not None:
            words, chars = (sorted(set(f)) for f in features)
            if not words or not chars:
                raise ValueError("no word or character n-gram of the examples may be learned")
            self._word = TfidfVectorizer(**_WORD_PARAMS, vocabulary=words)
            self._char = TfidfVectorizer(**_CHAR_PARAMS, vocabulary=chars)
            known = frozenset(words)
            encoded = [t if _words(t) <= known else _only_words(t, known) for t in texts]
        matrix = hstack([self._word.fit_transform(texts), self._char.fit_transform(texts)])
        classifier = LogisticRegression(
            C=REGULARISATION_C, solver="newton-cg", max_iter=MAX_ITERATIONS
        )
        classifier.fit(matrix.tocsr(), list(intents))
        self._classes = classifier.classes_.astype(str)
        self._coef, self._intercept = _binary_as_two_rows(classifier)
        if self.embeddings:
            semantic = LogisticRegression(C=EMBEDDING_C, max_iter=MAX_ITERATIONS)
            semantic.fit(self._encode(encoded, self.embedding_layers), list(intents))
            self._embed_coef, self._embed_intercept = _binary_as_two_rows(semantic)
        return self

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Intent probabilities, one row per text, columns in :attr:`intents` order."""
        scores = self._features(texts) @ self._coef.T + self._intercept
        if self.embeddings:
            vectors = self._encode(texts, self.embedding_layers)
            semantic = vectors @ self._embed_coef.T + self._embed_intercept
            scores = scores + EMBEDDING_WEIGHT * semantic
        return _softmax(np.asarray(scores))

    def _features(self, texts: Sequence[str]) -> csr_matrix:
        """Word and character TF-IDF rows side by side, as ``hstack`` of the two vectorisers'
        ``transform`` gives them (same analysers, vocabularies, sublinear tf, idf and L2 norm per
        part), built directly: a tenth of the time for one request."""
        parts = []
        offset = 0
        for vectorizer in (self._word, self._char):
            parts.append(
                (vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_, offset)
            )
            offset += len(vectorizer.idf_)
        indptr, indices, data = [0], [], []
        for text in texts:
            for analyse, vocabulary, idf, start in parts:
                counts: dict[int, int] = {}
                for term in analyse(text):
                    column = vocabulary.get(term)
                    if column is not None:
                        counts[column] = counts.get(column, 0) + 1
                if counts:
                    columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
                    tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                    values = (np.log(tf) + 1.0) * idf[columns]
                    indices.append(columns + start)
                    data.append(values / np.linalg.norm(values))
            indptr.append(sum(len(c) for c in indices))
        return csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0),
                np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
                np.array(indptr),
            ),
            shape=(len(texts), offset),
        )

    def predict(self, text: str) -> Interpretation:
        """The most probable intent of ``text`` and its slots."""
        probs = self.probabilities([text.lower()])[0]
        best = int(np.argmax(probs))
        if self.intents[best] in PRIVACY_INTENTS and not DELETION_WORDS.search(text.lower()):
            # "did you get what i just said?" is near a deletion command but asks for none
            privacy = [i for i, name in enumerate(self.intents) if name in PRIVACY_INTENTS]
            best = int(np.argmax(np.where(np.isin(np.arange(len(probs)), privacy), -1.0, probs)))
        intent = self.intents[best]
        return Interpretation(intent, float(probs[best]), extract_slots(intent, text))

    def save(self, path: Path) -> None:
        """Write the fitted parameters to ``path`` (``.npz``, no pickle)."""
        header = {
            "version": FORMAT_VERSION,
            "classes": self.intents,
            "word_vocabulary": _plain_vocabulary(self._word),
            "char_vocabulary": _plain_vocabulary(self._char),
            "embedding_model": EMBEDDING_MODEL if self.embeddings else None,
            "embedding_layers": list(self.embedding_layers),
        }
        with path.open("wb") as out:
            np.savez_compressed(
                out,
                header=np.array(json.dumps(header)),
                word_idf=self._word.idf_,
                char_idf=self._char.idf_,
                coef=self._coef,
                intercept=self._intercept,
                embed_coef=self._embed_coef,
                embed_intercept=self._embed_intercept,
            )

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        """Rebuild a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as saved:
            header = json.loads(str(saved["header"]))
            if header["version"] != FORMAT_VERSION:
                raise ValueError(f"unsupported intent model format {header['version']}")
            model = cls()
            model._word = _vectorizer(_WORD_PARAMS, header["word_vocabulary"], saved["word_idf"])
            model._char = _vectorizer(_CHAR_PARAMS, header["char_vocabulary"], saved["char_idf"])
            model._classes = np.array(header["classes"], dtype=str)
            model._coef, model._intercept = saved["coef"], saved["intercept"]
            if header.get("embedding_model") == EMBEDDING_MODEL:
                model.embeddings = True
                model._embed_coef = saved["embed_coef"]
                model._embed_intercept = saved["embed_intercept"]
                model.embedding_layers = tuple(header.get("embedding_layers", [6]))
        return model


def _binary_as_two_rows(classifier: LogisticRegression) -> tuple[np.ndarray, np.ndarray]:
    """Weights with one row per class (a two-class model stores one row; softmax needs two)."""
    coef, intercept = classifier.coef_, classifier.intercept_
    if coef.shape[0] == 1:
        return np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept


def _embed(texts: Sequence[str], layers: tuple[int, ...]) -> np.ndarray:
    from overheard.speech._minilm import sentence_encoder

    return sentence_encoder().encode(list(texts), layers)


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


_WORD_ANALYSER = TfidfVectorizer(**_WORD_PARAMS).build_analyzer()
_CHAR_ANALYSER = TfidfVectorizer(**_CHAR_PARAMS).build_analyzer()
_TOKENS = re.compile(_WORD_PARAMS["token_pattern"])


def text_features(text: str) -> tuple[set[str], set[str]]:
    """The word and character n-grams of ``text`` the model's vocabularies are built from."""
    return set(_WORD_ANALYSER(text)), set(_CHAR_ANALYSER(text))


def _words(text: str) -> set[str]:
    return set(_TOKENS.findall(text.lower()))


def _only_words(text: str, known: frozenset[str]) -> str:
    """``text`` with only its words in ``known`` (lowercase, one space between)."""
    return " ".join(w for w in _TOKENS.findall(text.lower()) if w in known)


def _plain_vocabulary(vectorizer: TfidfVectorizer) -> dict[str, int]:
    return {term: int(index) for term, index in vectorizer.vocabulary_.items()}


def _vectorizer(
    params: dict[str, Any], vocabulary: dict[str, int], idf: np.ndarray
) -> TfidfVectorizer:
    vectorizer = TfidfVectorizer(**params, vocabulary=vocabulary)
    vectorizer.idf_ = idf
    return vectorizer


def train_intent_model(
    examples: Iterable[tuple[str, str]],
    *,
    embeddings: bool = False,
    encoder: Encoder | None = None,
    features: tuple[Collection[str], Collection[str]] | None = None,
) -> IntentModel:
    """A model fitted on ``(text, intent)`` pairs (``embeddings``: add the sentence encoder;
    ``features``: the only word and character n-grams it may hold, see :meth:`IntentModel.fit`)."""
    texts, intents = zip(*examples, strict=True)
    model = IntentModel(embeddings=embeddings, encoder=encoder)
    return model.fit([t.lower() for t in texts], intents, features=features)


@cache
def default_intent_model() -> IntentModel:
    """The model trained on the seed requests, with sentence embeddings when the packaged encoder
    is installed (n-grams alone otherwise); built once per process."""
    seed = [(r.text, r.intent) for r in seed_requests("train")]
    return train_intent_model(seed, embeddings=embeddings_available())


def embeddings_available() -> bool:
    """True when the packaged sentence encoder can be loaded (its package is installed)."""
    from overheard.errors import ConfigError
    from overheard.speech._minilm import sentence_encoder

    try:
        sentence_encoder()
    except ConfigError:
        return False
    return True


def is_privacy_command(interp: Interpretation) -> PrivacyCommand | None:
    """The deletion an interpretation asks for, only when the model is sure of it."""
    if interp.confidence < PRIVACY_CONFIDENCE_FLOOR:
        return None
    for command in PRIVACY_INTENTS:
        if interp.intent == command:
            return command
    return None


# --- slots ---------------------------------------------------------------------------------------

_NUMBER = (
    r"(?:\d+(?::\d\d)?|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|"
    r"sixty|seventy|eighty|ninety|hundred|a|an|half an?)"
)
_NUMBERS = rf"{_NUMBER}(?:[ -]{_NUMBER})*"
ROOMS = (
    "living room",
    "dining room",
    "laundry room",
    "guest room",
    "kitchen",
    "bedroom",
    "bathroom",
    "hallway",
    "hall",
    "office",
    "garage",
    "basement",
    "nursery",
    "porch",
    "attic",
    "study",
    "lounge",
    "den",
    "garden",
    "cellar",
    "kids room",
    "playroom",
    "toilet",
)
GENRES = (
    "jazz",
    "rock",
    "classical",
    "country",
    "hip hop",
    "rap",
    "blues",
    "pop",
    "reggae",
    "folk",
    "soul",
    "techno",
    "opera",
    "metal",
    "punk",
    "disco",
    "funk",
    "house",
    "gospel",
    "indie",
    "electronic",
    "ambient",
    "lofi",
    "r and b",
)
_DURATION = re.compile(rf"\b(half an hour|{_NUMBERS} (?:seconds?|minutes?|hours?))\b")
_TIME = re.compile(
    rf"\b(noon|midnight|{_NUMBERS}(?: o'clock)?(?: (?:am|pm|a m|p m))?)(?= tomorrow|$| alarm)"
)
_TIME_AFTER = re.compile(rf"\b(?:at|for|the) (noon|midnight|{_NUMBERS}(?: o'clock)?(?: am| pm)?)\b")
_LEVEL = re.compile(rf"\b(?:to|at|volume) ({_NUMBERS}(?: percent)?)\s*$")
_ROOM = re.compile(r"\b(" + "|".join(ROOMS) + r")\b")
_PLACE = (
    re.compile(
        r"\b(?:in|for) ([a-z][a-z ]*?)(?= today| tomorrow| tonight| this| right now| now|$)"
    ),
    re.compile(r"\bthe ([a-z]+) (?:weather|forecast|time)\b"),
)
_NOT_PLACE = frozenset({"today", "tomorrow", "tonight", "here", "the weekend", "the week"})
_ITEM = (
    re.compile(
        r"^(?:please )?(?:add|put|stick|include) (?:some )?(.+?) (?:to|on|onto) (?:my |the )"
    ),
    re.compile(
        r"^(?:please )?(?:remove|delete|take|cross|scratch|get) (?:the )?(.+?) (?:from|off) "
    ),
    re.compile(r"\b(?:need to buy|buy|out of|need|bought) (?:some |more )?(.+?)$"),
    re.compile(r"^(?:please )?(?:shopping list )?add (.+)$"),
)
_MUSIC = re.compile(
    r"\b(?:play|put on|listen to|hear|queue up|throw on|mood for|playing)"
    r" (?:some |me some |the song |songs by |music by |by )*(.+?)"
    r"(?: music| songs)?(?: in the .*)?$"
)
_NOT_MUSIC = frozenset({"music", "my playlist", "a song", "something", "songs"})


def extract_slots(intent: str, text: str) -> dict[str, str]:
    """Slot values found in ``text`` for ``intent`` (lowercase, as spoken)."""
    text = " ".join(re.findall(r"[a-z0-9:']+", text.lower()))
    extractor = _EXTRACTORS.get(intent)
    slots = extractor(text) if extractor else {}
    if intent in _ROOM_INTENTS and (room := _ROOM.search(text)):
        slots["room"] = room.group(1)
    return slots


def _duration(text: str) -> dict[str, str]:
    found = _DURATION.search(text) or re.search(r"\b(an hour)\b", text)
    if not found:
        return {}
    value = found.group(1)
    bare = re.sub(
        r"^an? (?=\w+ \w)", "", value
    )  # "a five minute timer": the article is not a number
    return {"duration": bare}


def _time(text: str) -> dict[str, str]:
    found = _TIME_AFTER.search(text) or _TIME.search(text)
    return {"time": found.group(1)} if found and found.group(1) not in ("a", "an") else {}


def _place(text: str) -> dict[str, str]:
    for pattern in _PLACE:
        found = pattern.search(text)
        if found and found.group(1) not in _NOT_PLACE and not _ROOM.fullmatch(found.group(1)):
            return {"city": found.group(1)}
    return {}


def _level(text: str) -> dict[str, str]:
    found = _LEVEL.search(text)
    return {"level": found.group(1)} if found else {}


def _item(text: str) -> dict[str, str]:
    for pattern in _ITEM:
        found = pattern.search(text)
        if found and found.group(1) not in ("it", "that", "this", "to buy"):
            return {"item": found.group(1)}
    return {}


def _music(text: str) -> dict[str, str]:
    found = _MUSIC.search(text)
    if not found or found.group(1) in _NOT_MUSIC:
        return {}
    value = found.group(1)
    return {"genre" if value in GENRES else "artist": value}


_EXTRACTORS = {
    "timer_set": _duration,
    "alarm_set": _time,
    "alarm_cancel": _time,
    "weather": _place,
    "time_query": _place,
    "volume": _level,
    "shopping_add": _item,
    "shopping_remove": _item,
    "music_play": _music,
}
_ROOM_INTENTS = frozenset({"lights_on", "lights_off", "music_play"})
