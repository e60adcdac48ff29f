"""The deletion journal written by several processes at once, and after a write cut short."""

from __future__ import annotations

from overheard.db import utcnow
from overheard.recordings import journal
from tests.recordings.journal_child import HOUSEHOLD, start

PROCESSES = 4
BATCHES = 40
LINES = 800
"""Ids per append: a date-range deletion's batch, some 50 kB in one write."""


def test_processes_appending_at_once_leave_every_line_whole(platform):
    """Deletions commit in several workers and web processes, and each appends its ids when it has
    committed: started together, four processes' appends neither cut nor mix each other's lines."""
    children = [start(platform.settings, f"p{n}", BATCHES, LINES) for n in range(PROCESSES)]
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        child.communicate(timeout=120)
        assert child.returncode == 0
    path = journal.journal_path(platform)
    assert path is not None
    lines = path.read_text().splitlines()
    expected = {
        f"p{n}-{b}-{i}" for n in range(PROCESSES) for b in range(BATCHES) for i in range(LINES)
    }
    assert len(lines) == len(expected)
    for line in lines:
        when, household, rid = line.split("\t")
        assert household == HOUSEHOLD and rid in expected
        assert when.startswith(str(utcnow().year))
    assert journal.read(platform) == {HOUSEHOLD: expected}


def test_a_write_cut_short_does_not_swallow_the_next_deletion(platform):
    """A process whose journal write is cut short (a full disk; here a file-size limit) leaves a
    line without its end. The next deletion's line must start a line of its own, or ``read`` finds
    one line of five fields and skips it: a restore would then bring that deletion back."""
    path = journal.journal_path(platform)
    assert path is not None
    journal.append(platform, "hh_before", ["rec_before"], utcnow())
    child = start(platform.settings, "cut", 1, 100, max_bytes=path.stat().st_size + 40)
    child.communicate("go\n", timeout=60)
    assert child.returncode == 0
    # The child's write was cut inside its first line, past the time, within the household.
    assert len(path.read_text().split("\n")[-1].split("\t")) == 2
    journal.append(platform, "hh_after", ["rec_after"], utcnow())
    found = journal.read(platform)
    assert found["hh_before"] == {"rec_before"}
    assert found["hh_after"] == {"rec_after"}
