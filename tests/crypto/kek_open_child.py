"""Open the KEK a ``pkcs11:`` URL names several times in a row, as a freshly started process does.

Run as ``python -m tests.crypto.kek_open_child URL PIN TIMES START_AT``: waits until the wall-clock
time START_AT (so many processes open at once), then opens, wraps, unwraps and closes TIMES times.
Prints ``ok`` or the error; exit status 0 only if every open worked.
"""

from __future__ import annotations

import os
import sys
import time

from overheard.crypto.kek import kek_from_url


def main(url: str, pin: str, times: int, start_at: float) -> int:
    """Open the key ``times`` times; 0 when all worked."""
    time.sleep(max(0.0, start_at - time.time()))
    try:
        for _ in range(times):
            kek = kek_from_url(url, secret=pin)
            try:
                key = os.urandom(32)
                assert kek.unwrap(kek.wrap(key)) == key
            finally:
                kek.close()  # type: ignore[attr-defined]
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", flush=True)
        return 1
    print("ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
