"""Uploads while a backing service is away, as a device with an Idempotency-Key sends them.

For each fault (PostgreSQL and S3 cut through a relay, Redis killed) a device uploads steadily
for ``--outage-s`` seconds with the service down, then the service comes back and every upload
not yet acknowledged is resent (honouring Retry-After, clipped to 1 s here) until acknowledged.
Printed per fault: answers by class, the longest single answer, uploads lost (acknowledged but
absent) and duplicated (more than one row per key). Baseline: the same run with no fault.

    python benchmarks/faults.py [--outage-s 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for tests.ops.services and tests.s3server

from benchmarks._databases import databases  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from tests.conftest import tone_wav  # noqa: E402
from tests.ops.services import TcpProxy, redis_service, s3_service  # noqa: E402
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, create_bucket  # noqa: E402

from overheard.config import Settings  # noqa: E402
from overheard.db import transaction  # noqa: E402
from overheard.identity.service import enrol_household  # noqa: E402
from overheard.platform import Platform, initialise  # noqa: E402
from overheard.recordings.models import Recording  # noqa: E402
from overheard.web import create_app  # noqa: E402

RESEND_CAP_S = 1.0
"""Longest Retry-After honoured here (the device honours up to ten minutes)."""


def run_fault(tmp: Path, db_url: str, fault: str, outage_s: float) -> dict[str, object]:
    """One run: uploads before, during and after an outage of ``fault`` ("none" for baseline)."""
    moto, redis = s3_service(tmp), redis_service(tmp)
    moto.start()
    redis.start()
    pg = TcpProxy(urlsplit(db_url).port or 5432)
    s3 = TcpProxy(moto.port)
    pg.up()
    s3.up()
    parts = urlsplit(db_url)
    user = parts.netloc.rsplit("@", 1)[0]
    s3_url = f"http://127.0.0.1:{s3.port}"
    settings = Settings(
        data_dir=tmp / f"data-{fault}",
        database_url=parts._replace(netloc=f"{user}@127.0.0.1:{pg.port}").geturl(),
        blob_url=f"s3://{create_bucket(s3_url).name}/clips",
        s3_endpoint_url=s3_url, s3_access_key=TEST_ACCESS_KEY, s3_secret_key=TEST_SECRET_KEY,
        s3_timeout_s=1.0, s3_max_attempts=2, broker_url=f"redis://127.0.0.1:{redis.port}/0",
        broker_timeout_s=1.0, database_connect_timeout_s=2.0,
    ).resolved()  # fmt: skip
    initialise(settings)
    platform = Platform.open(settings)
    cut = {"postgres": (pg.down, pg.up), "s3": (s3.down, s3.up), "redis": (redis.stop, redis.start)}
    try:
        with transaction(platform.sessions) as session:
            token = enrol_household(
                session, platform.keyring, platform.secrets,
                name="Ada", account="A-1", email="a@example.org", serial="SN-1",
            ).device_token  # fmt: skip
        return _drive(platform, token, cut.get(fault), outage_s)
    finally:
        platform.close()
        pg.down()
        s3.down()
        redis.stop()
        moto.stop()


def _drive(platform: Platform, token: str, cut, outage_s: float) -> dict[str, object]:  # type: ignore[no-untyped-def]
    answers: Counter[str] = Counter()
    acked: dict[str, str] = {}
    longest = 0.0
    wav = tone_wav(0.5)
    with TestClient(create_app(platform, run_workers=False)) as client:

        def send(key: str) -> float:
            nonlocal longest
            started = time.monotonic()
            resp = client.post("/api/v1/utterances", content=wav,
                               headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})  # fmt: skip
            longest = max(longest, time.monotonic() - started)
            answers[f"{resp.status_code}"] += 1
            if resp.status_code in (200, 201):
                acked[key] = resp.json()["id"]
                return 0.0
            return min(RESEND_CAP_S, float(resp.headers.get("Retry-After", "1")))

        if cut is not None:
            cut[0]()
        keys, deadline, i = [], time.monotonic() + outage_s, 0
        while time.monotonic() < deadline:
            keys.append(f"{id(platform)}-k{i}")
            time.sleep(send(keys[-1]) or 0.1)
            i += 1
        if cut is not None:
            cut[1]()
        for key in keys:
            while key not in acked:
                time.sleep(send(key))
    with platform.sessions() as session:
        query = select(Recording.device_id, Recording.idempotency_key, func.count())
        rows = session.execute(
            query.group_by(Recording.device_id, Recording.idempotency_key)
        ).all()
        present = {k for _, k, _ in rows}
    other_5xx = sum(n for code, n in answers.items() if code.startswith("5") and code != "503")
    return {
        "uploads": len(keys), "503": answers.get("503", 0), "other_5xx": other_5xx,
        "longest_s": round(longest, 2), "lost": len(set(acked) - present),
        "duplicated": sum(1 for _, _, n in rows if n > 1),
    }  # fmt: skip


def main() -> None:
    """Run the baseline and each fault on PostgreSQL; print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage-s", type=float, default=10.0)
    args = parser.parse_args()
    print(f"{'fault':<9} {'uploads':>7} {'503':>5} {'other5xx':>8} {'longest_s':>9} "
          f"{'lost':>5} {'dup':>4}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in databases(Path(tmp), {"postgresql"}):
            del name
            for fault in ("none", "postgres", "s3", "redis"):
                r = run_fault(Path(tmp), url, fault, args.outage_s)
                print(f"{fault:<9} {r['uploads']:>7} {r['503']:>5} {r['other_5xx']:>8} "
                      f"{r['longest_s']:>9} {r['lost']:>5} {r['duplicated']:>4}")  # fmt: skip


if __name__ == "__main__":
    main()
