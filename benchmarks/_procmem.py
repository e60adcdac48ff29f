"""Memory of a server as a whole: ``overheard serve`` spawns its web processes, so one pid's
``/proc`` figures miss most of it."""

from __future__ import annotations

from pathlib import Path


def memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (peak) of a process, or its ``Pss`` (shared pages divided among the
    processes that map them), KiB."""
    path = Path(f"/proc/{pid}/smaps_rollup" if field == "Pss" else f"/proc/{pid}/status")
    for line in path.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (``overheard serve`` spawns its web processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def tree_kib(pid: int, field: str) -> int:
    """``field`` summed over the process tree of ``pid`` (processes that ended count nothing)."""
    total = 0
    for each in process_tree(pid):
        try:
            total += memory_kib(each, field)
        except (OSError, RuntimeError):
            continue
    return total
