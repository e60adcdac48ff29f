"""The test files a parallel run starts first exist (a renamed one would silently start last)."""

from __future__ import annotations

from tests.conftest import LONG_FILES, PROJECT_ROOT


def test_every_long_file_is_a_test_file_of_the_suite() -> None:
    assert len(set(LONG_FILES)) == len(LONG_FILES)
    for path in LONG_FILES:
        assert (PROJECT_ROOT / path).is_file(), path
        assert path.startswith("tests/") and path.rsplit("/", 1)[1].startswith("test_")
