"""The evaluation report: an HTML page with plots (matplotlib, inline SVG) and the same table on a terminal."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from rich.table import Table

from .evaluate import Evaluation, NluRow

TEMPLATE = "learn/report.html"
FIG_WIDTH_IN = 7.0
BAR_HEIGHT_IN = 0.45
"""Height per bar of a horizontal bar chart, inches."""


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f} %"


def terminal_tables(result: Evaluation) -> list[Table]:
    """The ASR and intent tables as Rich tables."""
    reasons = sorted(result.reasons)
    asr = Table(
        "recogniser",
        "WER",
        *(f"WER {r}" for r in reasons),
        title=f"ASR on {result.clips} held-out clips",
    )
    for row in result.asr:
        asr.add_row(
            row.label,
            _pct(row.wer),
            *(_pct(row.wer_by_reason.get(r, float("nan"))) for r in reasons),
        )
    nlu = Table(
        "intent model", "accuracy", "macro-F1", *(f"acc {r}" for r in reasons), title="Intents"
    )
    for n in result.nlu:
        nlu.add_row(
            n.label,
            _pct(n.score.accuracy),
            _pct(n.score.macro_f1),
            *(_pct(n.accuracy_by_reason.get(r, float("nan"))) for r in reasons),
        )
    tables = [asr, nlu]
    if result.external:
        external = Table("recogniser", "WER", title="External held-out set")
        for row in result.external:
            external.add_row(row.label, _pct(row.wer))
        tables.insert(1, external)
    return tables


def summary_lines(result: Evaluation) -> list[str]:
    """What the tables scored and what they left out, one short line each."""
    lines = [
        f"{result.clips} held-out clips scored: new households, new sentences",
        f"left out: {result.left_out.get('same_household', 0)} same household, "
        f"{result.left_out.get('same_sentence', 0)} same sentence",
    ]
    if result.external:
        lines.append(f"external held-out set: {result.external_clips} spoken requests")
    return lines


def _svg(fig: object) -> str:
    import matplotlib.pyplot as plt

    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    text = out.getvalue()
    return text[text.index("<svg") :]


def _bars(labels: Sequence[str], series: dict[str, Sequence[float]], xlabel: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = max(2.0, BAR_HEIGHT_IN * len(labels) * max(1, len(series)) + 1)
    fig, ax = plt.subplots(figsize=(FIG_WIDTH_IN, height))
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        ys = [i + k * width for i in range(len(labels))]
        ax.barh(ys, [0 if math.isnan(v) else v for v in values], height=width, label=name)
    ax.set_yticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))], labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if len(series) > 1:
        ax.legend(loc="lower right")
    return _svg(fig)


def _confusion(row: NluRow) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.35 * len(row.score.labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(row.score.confusion, cmap="Blues")
    ticks = range(len(row.score.labels))
    ax.set_xticks(ticks, row.score.labels, rotation=90)
    ax.set_yticks(ticks, row.score.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reviewed")
    ax.set_title(row.label)
    return _svg(fig)


def plots(result: Evaluation) -> dict[str, str]:
    """Inline SVG plots by name."""
    reasons = sorted(result.reasons)
    found = {
        "wer": _bars(
            [r.label for r in result.asr], {"WER": [r.wer for r in result.asr]}, "word error rate"
        ),
        "intent": _bars(
            [n.label for n in result.nlu],
            {
                "accuracy": [n.score.accuracy for n in result.nlu],
                "macro-F1": [n.score.macro_f1 for n in result.nlu],
            },
            "share",
        ),
        "sampling": _bars(
            [r.label for r in result.asr],
            {
                f"WER on {reason} clips": [
                    r.wer_by_reason.get(reason, float("nan")) for r in result.asr
                ]
                for reason in reasons
            },
            "word error rate",
        ),
    }
    if result.nlu and result.nlu[-1].score.labels:
        found["confusion"] = _confusion(result.nlu[-1])
    return found


def render_html(result: Evaluation) -> str:
    """The report page."""
    env = Environment(
        loader=PackageLoader("overheard", "templates"), autoescape=select_autoescape(["html"])
    )
    return env.get_template(TEMPLATE).render(
        result=result,
        plots=plots(result),
        reasons=sorted(result.reasons),
        pct=_pct,
        asr_rows=result.asr,
        nlu_rows=result.nlu,
    )


def write_report(result: Evaluation, path: Path) -> Path:
    """Write the HTML report to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result), encoding="utf-8")
    return path
