"""Many annotators claiming over HTTP at the same moment never get the same task (SQLite and
PostgreSQL), and every task ends up annotated exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from overheard.review.models import Annotation, ReviewTask
from tests.workbench.conftest import api_csrf

ANNOTATORS = 10
TASKS = 24


def test_simultaneous_claims_over_http_never_share_a_task(platform, make_world, staff_client):
    make_world(TASKS)
    team = [staff_client("annotator") for _ in range(ANNOTATORS)]
    headers = [api_csrf(client) for client, _ in team]
    start = threading.Barrier(ANNOTATORS)

    def work(i: int) -> list[str]:
        client, _ = team[i]
        start.wait()
        done = []
        while (task := client.post("/review/api/claim", headers=headers[i]).json()["task"]) is not None:
            reply = client.post("/review/api/submit", headers=headers[i], json={
                "lease_id": task["lease_id"], "transcript": f"by {i}", "intent": "none"})
            assert reply.status_code == 200, reply.text
            done.append(task["task_id"])
        return done

    with ThreadPoolExecutor(ANNOTATORS) as pool:
        results = list(pool.map(work, range(ANNOTATORS)))
    handed = Counter(task for done in results for task in done)
    assert len(handed) == TASKS and max(handed.values()) == 1
    assert sum(1 for done in results if done) > 1  # the work was really shared
    with platform.sessions() as s:
        per_task = s.execute(select(Annotation.task_id, func.count()).group_by(Annotation.task_id)).all()
        assert len(per_task) == TASKS and {n for _, n in per_task} == {1}
        states = s.scalars(select(ReviewTask.state)).all()
        assert Counter(states) == {"done": TASKS}
