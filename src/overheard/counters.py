"""Process-side Prometheus counters (summed over processes in multiprocess mode).

Kept apart from :mod:`overheard.metrics` so that low modules (``jobs``) can count without
importing what the metrics page reads.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Histogram bucket bounds for request latency, seconds."""

REQUEST_SECONDS = Histogram(
    "overheard_http_request_seconds",
    "Time to answer an HTTP request, by route template, method and status class.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS_S,
)
UPLOADS = Counter(
    "overheard_uploads_total", "Device uploads, by outcome.", ["outcome"]
)  # fmt: skip
JOB_RUNS = Counter(
    "overheard_job_runs_total", "Job attempts finished, by kind and outcome.", ["kind", "outcome"]
)
