"""The serving limit against people and against a harvester, beside the previous rule, same traces.

    python benchmarks/serve_limit.py [--clips 100] [--seed 7]

A trace is a list of (second, clip) serves. Each is run through the production rule
(``serving._check_rate`` over the ``watermarks`` table of a real SQLite platform, with the default
settings) and through the previous rule (at most 12 serves of any clip per 60 s, replays counted),
and the refusals (HTTP 429) are counted. Traces:

* reviewer at 3–5 s a clip (uniform), a third of the clips replayed once, a tenth twice;
* fast reviewer at 2–3 s a clip, same replays (faster than the fastest person in the lead page's
  figures; the limit must still not stop them);
* harvester: a script that asks for a new clip every second for an hour.

The goal: 0 refusals for people; the harvester held to the hourly rate.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from overheard.config import Settings
from overheard.db import transaction
from overheard.platform import Platform, initialise
from overheard.protect import serving
from overheard.protect._tables import Watermark

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OLD_MAX, OLD_WINDOW_S = 12, 60.0


def reviewer(clips: int, low_s: float, high_s: float, rng: random.Random) -> list[tuple[float, int]]:
    """Serves of a person working through ``clips`` clips, with replays."""
    out, t = [], 0.0
    for clip in range(clips):
        out.append((t, clip))
        handling = rng.uniform(low_s, high_s)
        replays = 2 if rng.random() < 0.1 else 1 if rng.random() < 0.33 else 0
        for r in range(replays):
            out.append((t + handling * (r + 1) / (replays + 1), clip))
        t += handling
    return out


def harvester(seconds: float, every_s: float) -> list[tuple[float, int]]:
    """A new clip every ``every_s`` seconds."""
    return [(i * every_s, i) for i in range(int(seconds / every_s))]


def old_rule(trace: list[tuple[float, int]]) -> tuple[int, int]:
    """(refused, distinct clips served) under at most 12 serves per 60 s."""
    served: deque[float] = deque()
    refused, clips = 0, set()
    for t, clip in trace:
        while served and served[0] <= t - OLD_WINDOW_S:
            served.popleft()
        if len(served) >= OLD_MAX:
            refused += 1
            continue
        served.append(t)
        clips.add(clip)
    return refused, len(clips)


def new_rule(platform: Platform, trace: list[tuple[float, int]]) -> tuple[int, int]:
    """(refused, distinct clips served) under the production rule and default settings."""
    policy = serving.ServingPolicy.from_settings(platform.settings)
    staff = f"R-{uuid.uuid4().hex[:4]}"
    refused, clips = 0, set()
    for t, clip in trace:
        now = T0 + timedelta(seconds=t)
        grant = serving.Grant("lease", f"{staff}-{clip}", staff, lambda *_: None)  # type: ignore[arg-type, return-value]
        with transaction(platform.sessions) as session:
            try:
                serving._check_rate(session, grant, f"rec-{staff}-{clip}", policy, now)
            except serving.ServeLimitReached:
                refused += 1
                continue
            session.add(
                Watermark(
                    id=random.getrandbits(32),
                    grant_kind="lease",
                    grant_id=grant.id,
                    staff=staff,
                    task_pseudonym=f"C-{clip:012d}",
                    recording_id=f"rec-{staff}-{clip}",
                    served_at=now,
                )
            )
        clips.add(clip)
    return refused, len(clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    traces = {
        "reviewer 3-5 s/clip": reviewer(args.clips, 3.0, 5.0, rng),
        "fast reviewer 2-3 s/clip": reviewer(args.clips, 2.0, 3.0, rng),
        "harvester, a new clip every second for 1 h": harvester(3600.0, 1.0),
    }
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data").resolved()
        initialise(settings)
        platform = Platform.open(settings)
        try:
            print(f"{'trace':44} {'serves':>7} | {'429 now':>8} {'clips now':>10} | {'429 before':>10} {'clips before':>12}")
            for name, trace in traces.items():
                now_refused, now_clips = new_rule(platform, trace)
                old_refused, old_clips = old_rule(trace)
                print(f"{name:44} {len(trace):>7} | {now_refused:>8} {now_clips:>10} | {old_refused:>10} {old_clips:>12}")
        finally:
            platform.close()
    print("goal: 0 refusals for people (both reviewer rows), harvester held to 720 clips an hour")


if __name__ == "__main__":
    main()
