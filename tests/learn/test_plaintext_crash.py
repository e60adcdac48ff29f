"""A plaintext export killed (SIGKILL) while it writes leaves no folder the platform has lost."""

from __future__ import annotations

import textwrap

from overheard.learn.working import live_copies
from tests._crash import killed_child

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from overheard.config import Settings
    from overheard.learn import export, register
    from overheard.platform import Platform

    data_dir, database_url, out, officer = sys.argv[1:]
    settings = Settings(data_dir=data_dir, database_url=database_url, workers=1).resolved()
    platform = Platform.open(settings)
    register()
    real_row = export._row

    def row(root, line, payload):
        written = real_row(root, line, payload)
        os.kill(os.getpid(), signal.SIGKILL)  # the first clip's audio is on disk
        return written

    export._row = row
    export.export_plaintext(platform, Path(out), staff_id=officer)
    """
)


def test_a_plaintext_export_killed_while_it_writes_is_tracked(
    platform, settings, make_home, make_reviewed, make_staff, tmp_path
):  # type: ignore[no-untyped-def]
    """The folder is registered as a working copy before its first plaintext byte, so a deletion
    or the retention sweep finds it. Before, the registration was part of the transaction that
    wrote the clips: a process killed mid-write rolled it back and left plain WAVs on no record."""
    make_reviewed(make_home(), "alexa switch on the zanzibar orangery lamps", "lights_on")
    officer = make_staff("privacy_officer")
    out = tmp_path / "plain"
    killed_child(CHILD, str(settings.data_dir), settings.database_url, str(out), officer)
    assert list((out / "audio").glob("*.wav"))
    with platform.sessions() as s:
        assert str(out.resolve()) in {c.path for c in live_copies(s)}
