"""An HSM that goes away under uploads: answered 503 + Retry-After while it is away, the same
upload accepted once it is back; an HSM that only lost the session is not noticed at all."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from overheard.config import Settings
from overheard.crypto.kek import kek_from_url
from overheard.db import transaction
from overheard.firstuse import ensure_key_version
from overheard.identity.service import enrol_household
from overheard.platform import Platform, initialise
from overheard.web import create_app
from tests.conftest import tone_wav
from tests.crypto.conftest import SoftHsm, softhsm  # noqa: F401 - the token fixture
from tests.crypto.test_pkcs11_recovery import drop_sessions


def upload(client: TestClient, token: str, key: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/utterances", content=tone_wav(0.5),
                       headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})  # fmt: skip


def test_upload_while_the_hsm_is_away(softhsm: SoftHsm, tmp_path: Path):  # noqa: F811
    settings = Settings(data_dir=tmp_path / "data", kek_url=softhsm.url(),
                        kek_secret=softhsm.pin).resolved()  # fmt: skip
    initialise(settings)
    with kek_from_url(settings.kek_url, secret=softhsm.pin) as first_use:
        ensure_key_version(first_use)  # what `overheard init` does on an empty token
    platform = Platform.open(settings)
    try:
        with transaction(platform.sessions) as session:
            enrolled = enrol_household(session, platform.keyring, platform.secrets, name="Ada",
                                       account="A-1", email="a@example.org", serial="SN-1")  # fmt: skip
        kek, household = platform.keyring.kek, enrolled.household_id
        with TestClient(create_app(platform, run_workers=False)) as client:
            assert upload(client, enrolled.device_token, "before").status_code == 201

            platform.keyring.forget(household)  # as when the cached key expires
            drop_sessions(kek)  # the HSM restarted: sessions and login gone, token back
            assert upload(client, enrolled.device_token, "restarted").status_code == 201

            platform.keyring.forget(household)
            tokens = tmp_path / "tokens"
            tokens.rename(tmp_path / "tokens-away")
            drop_sessions(kek)
            away = upload(client, enrolled.device_token, "away")
            assert away.status_code == 503, away.text
            assert away.headers["Retry-After"].isdigit()
            assert away.json()["error"]["code"] == "service_unavailable"

            (tmp_path / "tokens-away").rename(tokens)
            back = upload(client, enrolled.device_token, "away")
            assert back.status_code == 201, back.text
    finally:
        platform.close()
