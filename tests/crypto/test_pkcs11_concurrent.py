"""Many processes open the SoftHSM2 key at the same moment (as a deployment's processes start):
every open succeeds, transient token errors being retried."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import PROJECT_ROOT
from tests.crypto.conftest import SoftHsm

PROCESSES = 8
OPENS_EACH = 6


def test_simultaneous_opens_from_many_processes_all_succeed(make_pkcs11_kek, softhsm: SoftHsm):
    make_pkcs11_kek().close()  # the first version exists before the rush
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)]),
    }
    start_at = time.time() + 3.0
    command = [sys.executable, "-m", "tests.crypto.kek_open_child", softhsm.url(), softhsm.pin]
    children = [
        subprocess.Popen(
            [*command, str(OPENS_EACH), str(start_at)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [child.communicate(timeout=120)[0].strip() for child in children]
    failed = [out for out in outputs if out.splitlines()[-1:] != ["ok"]]
    assert not failed, f"{len(failed)} of {PROCESSES} processes failed: {failed[:3]}"


def test_a_token_that_stays_missing_fails_with_a_clear_message(softhsm: SoftHsm):
    from overheard.crypto.kek import kek_from_url
    from overheard.errors import ConfigError

    url = softhsm.url().replace(f"token={softhsm.token}", "token=absent")
    with pytest.raises(ConfigError, match=r"no PKCS#11 token labelled 'absent'.*after \d+ tries"):
        kek_from_url(url, secret=softhsm.pin)
