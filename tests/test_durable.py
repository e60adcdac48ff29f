"""Durable writes: the target is whole or untouched, the mode exact, and no temporary is left."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from overheard import durable


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def strict_umask():  # type: ignore[no-untyped-def]
    """A umask that takes the owner's write bit: the mode asked for must still be exact."""
    old = os.umask(0o277)
    yield
    os.umask(old)


def test_write_new_creates_the_file_with_exactly_its_mode(tmp_path: Path, strict_umask) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "key"
    assert durable.write_new(target, b"secret", mode=0o600) is True
    assert target.read_bytes() == b"secret" and _mode(target) == 0o600
    assert os.listdir(tmp_path) == ["key"]


def test_write_new_never_writes_over_a_file_there(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_bytes(b"first")
    assert durable.write_new(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["key"]


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_replace_puts_the_new_bytes_in_place(tmp_path: Path, mode: int, strict_umask) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "settings.env"
    target.write_bytes(b"old")
    durable.replace(target, b"new", mode=mode)
    assert target.read_bytes() == b"new" and _mode(target) == mode
    assert os.listdir(tmp_path) == ["settings.env"]


def test_a_failed_sync_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """fsync can fail (EIO on a failing disk): the bytes may never reach it, so nothing is renamed."""
    target = tmp_path / "manifest.json"
    target.write_bytes(b"old")

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    for write in (durable.replace, durable.write_new):
        with pytest.raises(OSError, match="Input/output"):
            write(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["manifest.json"]


CHILD = textwrap.dedent(
    """
    import errno, resource, signal, sys
    from pathlib import Path
    from overheard import durable

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    target, how = Path(sys.argv[1]), sys.argv[2]
    try:
        getattr(durable, how)(target, b"x" * 100_000)
    except OSError as exc:
        sys.exit(10 if exc.errno == errno.EFBIG else 11)
    sys.exit(0)
    """
)


@pytest.mark.parametrize("how", ["replace", "write_new"])
def test_a_write_cut_short_half_way_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, how: str
) -> None:
    """A real short write: the file-size limit (as a full disk would) stops it after 4 KiB."""
    target = tmp_path / "manifest.json"
    if how == "replace":
        target.write_bytes(b"old")
    src = Path(__file__).resolve().parents[1] / "src"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(target), how],
        env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 10, done.stderr[-2000:]
    if how == "replace":
        assert target.read_bytes() == b"old"
        assert os.listdir(tmp_path) == ["manifest.json"]
    else:
        assert os.listdir(tmp_path) == []


def test_temporaries_are_hidden_and_named_for_sweepers(tmp_path: Path) -> None:
    fd, temporary = durable.temporary_beside(tmp_path / "a.sealed", 0o600)
    os.close(fd)
    assert temporary.parent == tmp_path
    assert temporary.name.startswith(".a.sealed.") and temporary.name.endswith(".tmp")


def test_syncing_a_folder_that_is_gone_is_no_error(tmp_path: Path) -> None:
    durable.sync_dir(tmp_path / "pruned")
    durable.sync_dir(tmp_path)
