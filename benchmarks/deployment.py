"""The same device load on the embedded default and on the multi-process deployment, with faults.

    python benchmarks/deployment.py [--uploads 60] [--clients 8] [--faults] [--outage-s 8]

Each upload is real speech: an "alexa" from the wake-word set followed by a read-speech utterance
(cut to 3 s), so the pipeline (wake word, recognition, intent) does its real work. Devices are
threads that upload with an Idempotency-Key and, on a 503, a connection error or a timeout, send
the same upload again after Retry-After (clipped to ``RESEND_CAP_S``), as the reference device
does. Two topologies, started as an operator would, in the same run:

- **embedded**: ``overheard serve`` on SQLite + local files with in-process workers (its default
  number of web processes, one per core);
- **multi-process**: PostgreSQL (a throw-away database), a moto S3 server, a private Redis, two
  ``overheard serve`` processes (one web process each) and two ``overheard worker`` processes —
  the processes ``overheard deploy --web 2 --workers 2`` starts, here started one by one so a
  fault can kill one of them.

Printed per topology: uploads/s while uploading, upload latency p50/p99 (first send to
acknowledgement, resends included), and drain time (first upload to the last recording leaving
``received``/``processing``). With ``--faults``, the multi-process deployment is run again once
per fault injected a third of the way through the load for ``--outage-s`` seconds (a web process
killed, a worker killed, Redis killed, PostgreSQL and S3 cut by a relay; each restarted after the
outage) and the table adds answers by class, the longest single answer, uploads lost
(acknowledged but absent) and duplicated (more than one recording for a key).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for tests.ops.services and tests.s3server
sys.path.insert(0, str(PROJECT_ROOT / "src"))

from benchmarks._databases import databases  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from tests.ops.services import TcpProxy, redis_service, s3_service, wait_for_port  # noqa: E402
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, free_port  # noqa: E402

from overheard.speech.audio import read_audio_file, to_wav_bytes  # noqa: E402

DATA = Path(os.environ.get("OVERHEARD_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
RATE_HZ = 16000
REQUEST_MAX_S = 3.0
"""Read speech after the wake word is cut to this length, seconds (a request's length)."""
RESEND_CAP_S = 2.0
"""Longest Retry-After honoured here, seconds (the device honours up to ten minutes)."""
ANSWER_TIMEOUT_S = 30.0
"""A device gives up on one answer after this long and sends again, seconds."""
DRAIN_TIMEOUT_S = 1800.0
"""Longest wait for the pipeline to finish every upload, seconds."""
START_TIMEOUT_S = 180.0
"""Longest wait for a web process to accept connections, seconds."""
PENDING = ("received", "processing")


def speech_bodies(count: int, seed: int) -> list[bytes]:
    """``count`` WAV bodies: a random "alexa" clip, 0.2 s of silence, a random utterance (≤ 3 s)."""
    rng = random.Random(seed)
    alexa = sorted((DATA / "wakeword" / "alexa").glob("*.flac"))
    speech = sorted((DATA / "speakers" / "librispeech-test-other").glob("*/*.flac"))
    if not alexa or not speech:
        raise SystemExit(f"needs {DATA}/wakeword/alexa and speakers/librispeech-test-other")
    gap = np.zeros(int(0.2 * RATE_HZ), dtype=np.int16)
    bodies = []
    for _ in range(count):
        wake = read_audio_file(rng.choice(alexa)).pcm
        said = read_audio_file(rng.choice(speech)).pcm[: int(REQUEST_MAX_S * RATE_HZ)]
        bodies.append(to_wav_bytes(np.concatenate([gap, wake, gap, said, gap])))
    return bodies


def overheard(env: dict[str, str], *args: str) -> str:
    """Run an ``overheard`` command to completion; its standard output."""
    done = subprocess.run([sys.executable, "-m", "overheard", *args], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"overheard {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def enrol(env: dict[str, str], count: int) -> list[str]:
    """Device tokens of ``count`` new households."""
    import json

    return [
        json.loads(overheard(env, "households", "add", "--name", f"H{i}", "--account", f"A-{i}",
                             "--email", f"h{i}@example.org", "--serial", f"SN-{i}",
                             "--json"))["device_token"]
        for i in range(count)
    ]  # fmt: skip


@dataclass
class Proc:
    """One server process the benchmark started (and may kill and start again)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process; wait for its port if it has one."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        if self.port is not None:
            wait_for_port(self.port, timeout_s=START_TIMEOUT_S)

    def kill(self) -> None:
        """SIGKILL the process and its children (a crash, not a shutdown)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Deployment:
    """A running topology: where devices upload, their tokens, how to count what is stored."""

    urls: list[str]
    tokens: list[str]
    database_url: str
    processes: dict[str, Proc]
    faults: dict[str, tuple[Callable[[], None], Callable[[], None]]] = field(default_factory=dict)


@contextmanager
def embedded(tmp: Path, households: int) -> Iterator[Deployment]:
    """``overheard serve`` on the embedded default (SQLite, local files, in-process workers)."""
    data = tmp / "embedded"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src"), "OVERHEARD_DATA_DIR": str(data)}
    overheard(env, "init")
    tokens = enrol(env, households)
    port = free_port()
    web = Proc("web", [sys.executable, "-m", "overheard", "serve", "--port", str(port)], env,
               tmp / "embedded.log", port)  # fmt: skip
    web.start()
    try:
        yield Deployment([f"http://127.0.0.1:{port}"], tokens, f"sqlite:///{data / 'overheard.db'}",
                         {"web": web})  # fmt: skip
    finally:
        web.stop()


@contextmanager
def multi_process(tmp: Path, database_url: str, households: int) -> Iterator[Deployment]:
    """Two web processes and two workers on PostgreSQL, moto S3 and Redis (relays for cuts)."""
    redis, moto = redis_service(tmp), s3_service(tmp)
    redis.start()
    moto.start()
    pg = TcpProxy(urlsplit(database_url).port or 5432)
    s3 = TcpProxy(moto.port)
    pg.up()
    s3.up()
    parts = urlsplit(database_url)
    user = parts.netloc.rsplit("@", 1)[0]
    via_proxy = parts._replace(netloc=f"{user}@127.0.0.1:{pg.port}").geturl()
    data = tmp / f"multi-{time.monotonic_ns()}"
    env = {
        **os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src"),
        "OVERHEARD_DATA_DIR": str(data), "OVERHEARD_DATABASE_URL": via_proxy,
        "OVERHEARD_BLOB_URL": "s3://overheard-bench/clips",
        "OVERHEARD_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3.port}",
        "OVERHEARD_S3_ACCESS_KEY": TEST_ACCESS_KEY, "OVERHEARD_S3_SECRET_KEY": TEST_SECRET_KEY,
        "OVERHEARD_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
        "OVERHEARD_WEB_PROCESSES": "1", "OVERHEARD_METRICS_MULTIPROCESS_DIR": str(data / "metrics"),
        "PROMETHEUS_MULTIPROC_DIR": str(data / "metrics"),
    }  # fmt: skip
    overheard(env, "init")
    (data / "metrics").mkdir(parents=True, exist_ok=True)
    tokens = enrol(env, households)
    ports = [free_port(), free_port()]
    command = [sys.executable, "-m", "overheard"]
    procs = {f"web{i + 1}": Proc(f"web{i + 1}", [*command, "serve", "--port", str(p)], env,
                                 tmp / f"web{i + 1}.log", p)
             for i, p in enumerate(ports)}  # fmt: skip
    procs |= {f"worker{i + 1}": Proc(f"worker{i + 1}", [*command, "worker"], env,
                                     tmp / f"worker{i + 1}.log")
              for i in range(2)}  # fmt: skip
    for proc in procs.values():
        proc.start()
    faults = {
        "web process killed": (procs["web1"].kill, procs["web1"].start),
        "worker killed": (procs["worker1"].kill, procs["worker1"].start),
        "redis killed": (redis.stop, redis.start),
        "postgresql cut": (pg.down, pg.up),
        "s3 cut": (s3.down, s3.up),
    }
    try:
        yield Deployment([f"http://127.0.0.1:{p}" for p in ports], tokens, database_url, procs,
                         faults)  # fmt: skip
    finally:
        for proc in procs.values():
            proc.stop()
        pg.down()
        s3.down()
        redis.stop()
        moto.stop()


@dataclass
class Upload:
    """One upload as the device saw it."""

    key: str
    url: str
    token: str
    body: bytes
    started: float = 0.0
    acked: float = 0.0
    recording_id: str = ""


@dataclass
class Tally:
    """Every answer the devices got, and the longest one."""

    answers: Counter[str] = field(default_factory=Counter)
    longest_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: str, elapsed_s: float) -> None:
        """Count one answer (a status code or an error class)."""
        with self.lock:
            self.answers[answer] += 1
            self.longest_s = max(self.longest_s, elapsed_s)


def send_until_acknowledged(upload: Upload, tally: Tally, client: httpx.Client) -> None:
    """Upload, resending the same body and key until the server acknowledges it."""
    upload.started = time.monotonic()
    headers = {"Authorization": f"Bearer {upload.token}", "Idempotency-Key": upload.key}
    while True:
        sent = time.monotonic()
        wait = 1.0
        try:
            resp = client.post(f"{upload.url}/api/v1/utterances", content=upload.body,
                               headers=headers, timeout=ANSWER_TIMEOUT_S)  # fmt: skip
            tally.add(str(resp.status_code), time.monotonic() - sent)
            if resp.status_code in (200, 201):
                upload.acked, upload.recording_id = time.monotonic(), resp.json()["id"]
                return
            if resp.status_code < 500 and resp.status_code != 429:
                raise RuntimeError(f"upload refused: {resp.status_code} {resp.text}")
            wait = float(resp.headers.get("Retry-After", "1"))
        except httpx.TransportError as exc:
            tally.add(type(exc).__name__, time.monotonic() - sent)
        time.sleep(min(RESEND_CAP_S, wait))


def run_load(dep: Deployment, bodies: list[bytes], clients: int,
             fault: tuple[Callable[[], None], Callable[[], None]] | None,
             outage_s: float) -> tuple[list[Upload], Tally, float]:  # fmt: skip
    """Send every body (devices spread over the deployment's URLs); the uploads, answers, seconds."""
    run = f"r{time.monotonic_ns()}"
    uploads = [Upload(f"{run}-{i}", dep.urls[i % len(dep.urls)], dep.tokens[i % len(dep.tokens)],
                      body) for i, body in enumerate(bodies)]  # fmt: skip
    tally = Tally()
    started = time.monotonic()
    fault_at = len(uploads) // 3

    def inject() -> None:
        while sum(1 for u in uploads if u.acked) < fault_at:
            time.sleep(0.05)
        fault[0]()  # type: ignore[index]
        time.sleep(outage_s)
        fault[1]()  # type: ignore[index]

    injector = threading.Thread(target=inject, daemon=True) if fault else None
    if injector:
        injector.start()
    with httpx.Client() as client, ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda u: send_until_acknowledged(u, tally, client), uploads))
    if injector:
        injector.join()
    return uploads, tally, time.monotonic() - started


def drain_s(dep: Deployment, uploads: list[Upload], started: float) -> float:
    """Seconds from the first upload until no upload is received/processing any more."""
    waiting = list(uploads)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    with httpx.Client(timeout=ANSWER_TIMEOUT_S) as client:
        while waiting and time.monotonic() < deadline:
            still = []
            for u in waiting:
                try:
                    resp = client.get(f"{dep.urls[-1]}/api/v1/utterances/{u.recording_id}",
                                      headers={"Authorization": f"Bearer {u.token}"})  # fmt: skip
                    status = resp.json().get("status") if resp.status_code == 200 else "?"
                except httpx.TransportError:
                    status = "?"
                if status in PENDING or status == "?":
                    still.append(u)
            waiting = still
            if waiting:
                time.sleep(1.0)
    if waiting:
        return float("inf")
    return time.monotonic() - started


def stored(dep: Deployment, uploads: list[Upload]) -> tuple[int, int]:
    """(lost, duplicated): acknowledged uploads absent from the database; keys stored twice."""
    keys = {u.key for u in uploads}
    engine = create_engine(dep.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT idempotency_key, count(*) FROM recordings "
                                     "GROUP BY device_id, idempotency_key")).all()  # fmt: skip
    finally:
        engine.dispose()
    counts = {k: n for k, n in rows if k in keys}
    lost = sum(1 for u in uploads if u.acked and u.key not in counts)
    return lost, sum(1 for n in counts.values() if n > 1)


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, round(q * 100) - 1)]


def measure(name: str, dep: Deployment, bodies: list[bytes], clients: int,
            fault: str | None = None, outage_s: float = 0.0) -> dict[str, object]:  # fmt: skip
    """One load through ``dep``; the row of figures."""
    uploads, tally, elapsed = run_load(dep, bodies, clients, dep.faults.get(fault or ""), outage_s)
    drained = drain_s(dep, uploads, min(u.started for u in uploads))
    lost, duplicated = stored(dep, uploads)
    latencies = [u.acked - u.started for u in uploads]
    other_5xx = sum(n for a, n in tally.answers.items() if a.startswith("5") and a != "503")
    errors = sum(n for a, n in tally.answers.items() if not a.isdigit())
    return {
        "topology": name, "fault": fault or "-", "uploads": len(uploads),
        "per_s": len(uploads) / elapsed, "p50_ms": 1000 * pct(latencies, 0.5),
        "p99_ms": 1000 * pct(latencies, 0.99), "drain_s": drained,
        "503": tally.answers.get("503", 0), "other_5xx": other_5xx, "conn_errors": errors,
        "longest_s": tally.longest_s, "lost": lost, "dup": duplicated,
    }  # fmt: skip


COLUMNS = [("topology", "<14", ""), ("fault", "<19", ""), ("uploads", ">7", ""),
           ("per_s", ">7", ".2f"), ("p50_ms", ">8", ".0f"), ("p99_ms", ">8", ".0f"),
           ("drain_s", ">8", ".1f"), ("503", ">5", ""), ("other_5xx", ">9", ""),
           ("conn_errors", ">11", ""), ("longest_s", ">9", ".2f"), ("lost", ">4", ""),
           ("dup", ">3", "")]  # fmt: skip


def show(row: dict[str, object]) -> None:
    """Print one row under the header."""
    print(" ".join(format(row[c], f"{w}{f}") for c, w, f in COLUMNS), flush=True)


def main() -> None:
    """Embedded vs multi-process on the same load; then one multi-process run per fault."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=60)
    parser.add_argument("--clients", type=int, default=8, help="devices uploading at once")
    parser.add_argument("--households", type=int, default=4)
    parser.add_argument("--faults", action="store_true", help="also one run per injected fault")
    parser.add_argument("--outage-s", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    bodies = speech_bodies(args.uploads, args.seed)
    print(f"{args.uploads} uploads of {statistics.mean(len(b) for b in bodies) / 32000:.1f} s "
          f"speech on average, {args.clients} devices at once")  # fmt: skip
    print(" ".join(format(c, w) for c, w, _ in COLUMNS))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with embedded(tmp, args.households) as dep:
            show(measure("embedded", dep, bodies, args.clients))
        for _, url in databases(tmp, {"postgresql"}):
            with multi_process(tmp, url, args.households) as dep:
                show(measure("multi-process", dep, bodies, args.clients))
                for fault in dep.faults if args.faults else ():
                    show(measure("multi-process", dep, bodies, args.clients, fault, args.outage_s))


if __name__ == "__main__":
    main()
