"""Cost of one data-key wrap and unwrap per KEK provider, against in-process AES-GCM as baseline.

Run: ``python benchmarks/kek.py [--rounds N]``. The PKCS#11 rows use a throw-away SoftHSM2 token;
the Vault rows run only when OVERHEARD_TEST_VAULT_ADDR and OVERHEARD_TEST_VAULT_TOKEN are set.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from overheard.crypto._pkcs11 import Pkcs11Kek
from overheard.crypto.aead import new_data_key, open_sealed, seal
from overheard.crypto.kek import KeyEncryptionKey, create_keyfile, kek_from_url

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
DEFAULT_ROUNDS = 2000
VAULT_ROUNDS_DIVISOR = 10
ROTATIONS = 10
NS_PER_US = 1000


def measure(operation: Callable[[], object], rounds: int) -> list[float]:
    """Microseconds taken by each of ``rounds`` calls (after a short warm-up)."""
    for _ in range(min(rounds, 20)):
        operation()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        operation()
        samples.append((time.perf_counter_ns() - start) / NS_PER_US)
    return samples


def row(provider: str, operation: str, samples: list[float]) -> str:
    """One table row: median, p95 and throughput."""
    median = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[-1]
    figures = f"{len(samples):>6} | {median:>10.1f} | {p95:>10.1f} | {1e6 / median:>10.0f}"
    return f"| {provider:<28} | {operation:<7} | {figures} |"


def kek_rows(name: str, kek: KeyEncryptionKey, rounds: int) -> list[str]:
    """Rows for wrap and unwrap of one provider."""
    data_key = new_data_key()
    wrapped = kek.wrap(data_key)
    assert kek.unwrap(wrapped) == data_key
    return [
        row(name, "wrap", measure(lambda: kek.wrap(data_key), rounds)),
        row(name, "unwrap", measure(lambda: kek.unwrap(wrapped), rounds)),
    ]


def baseline_rows(rounds: int) -> list[str]:
    """In-process AES-256-GCM over a 32-byte payload: the floor any KEK is compared with."""
    key, payload = new_data_key(), new_data_key()
    blob = seal(key, payload, record_id="bench", kind="key")
    name = "baseline: aead in-process"
    return [
        row(
            name, "seal", measure(lambda: seal(key, payload, record_id="bench", kind="key"), rounds)
        ),
        row(
            name,
            "open",
            measure(lambda: open_sealed(key, blob, record_id="bench", kind="key"), rounds),
        ),
    ]


@contextmanager
def softhsm_token(directory: Path) -> Iterator[tuple[str, str] | None]:
    """A fresh SoftHSM2 token; yields ``(url, pin)`` or None when SoftHSM2 is absent."""
    if not Path(SOFTHSM_MODULE).exists() or shutil.which("softhsm2-util") is None:
        yield None
        return
    (directory / "tokens").mkdir()
    config = directory / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(config)
    pin = secrets.token_hex(4)
    init = ["softhsm2-util", "--init-token", "--free", "--label", "bench"]
    subprocess.run([*init, "--pin", pin, "--so-pin", pin], check=True, capture_output=True)
    yield f"pkcs11:module={SOFTHSM_MODULE};token=bench;label=bench-kek", pin


def pkcs11_rows(directory: Path, rounds: int) -> list[str]:
    """Rows for PKCS#11 on SoftHSM2, including rotate (a new key object on the token)."""
    with softhsm_token(directory) as token:
        if token is None:
            return [f"| {'pkcs11 (softhsm2)':<28} | skipped: SoftHSM2 not installed |"]
        url, pin = token
        with Pkcs11Kek.from_url(url, secret=pin) as kek:
            rotations = measure(kek.rotate, ROTATIONS)
            return [
                *kek_rows("pkcs11 (softhsm2)", kek, rounds),
                row("pkcs11 (softhsm2)", "rotate", rotations),
            ]


def vault_rows(rounds: int) -> list[str]:
    """Rows for Vault transit when a Vault is configured."""
    address = os.environ.get("OVERHEARD_TEST_VAULT_ADDR")
    token = os.environ.get("OVERHEARD_TEST_VAULT_TOKEN")
    if not address or not token:
        return [f"| {'vault transit':<28} | skipped: OVERHEARD_TEST_VAULT_ADDR unset |"]
    import hvac

    client = hvac.Client(url=address, token=token)
    mount = f"overheard-bench-{secrets.token_hex(4)}"
    client.sys.enable_secrets_engine("transit", path=mount)
    try:
        client.secrets.transit.create_key(name="bench", mount_point=mount)
        scheme, _, host = address.rstrip("/").partition("://")
        url = f"{'vaults' if scheme == 'https' else 'vault'}://{host}/{mount}/keys/bench"
        kek = kek_from_url(url, secret=token)
        return kek_rows("vault transit", kek, max(rounds // VAULT_ROUNDS_DIVISOR, 20))
    finally:
        client.sys.disable_secrets_engine(path=mount)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="calls per operation")
    rounds = parser.parse_args().rounds
    print(
        f"| {'provider':<28} | {'op':<7} | {'calls':>6} | {'median µs':>10} "
        f"| {'p95 µs':>10} | {'ops/s':>10} |"
    )
    print(f"|{'-' * 30}|{'-' * 9}|{'-' * 8}|{'-' * 12}|{'-' * 12}|{'-' * 12}|")
    rows = baseline_rows(rounds)
    with tempfile.TemporaryDirectory() as temp:
        create_keyfile(Path(temp) / "kek.json")
        rows += kek_rows("keyfile", kek_from_url(f"keyfile:{Path(temp) / 'kek.json'}"), rounds)
        hsm_dir = Path(temp) / "hsm"
        hsm_dir.mkdir()
        rows += pkcs11_rows(hsm_dir, rounds)
    rows += vault_rows(rounds)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
