"""make run shows no secret in full and keeps its env files to their owner."""

import stat
from pathlib import Path

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def launcher():
    return load_script("deploy/local/run.py", "launcher")


def test_secrets_are_shown_only_by_their_first_characters() -> None:
    run = launcher()
    token = "Zq3-very-secret-service-token-value"
    assert run.shown("SERVICE_TOKEN", token) == "Zq3-ve…"
    assert token not in run.shown("DEV_TOKEN", token)
    assert run.shown("MOORING_VAULT_KEYS", "dev1:" + "A" * 44).endswith("…")
    assert run.shown("CONNECTOR_URL", "http://127.0.0.1:8101") == "http://127.0.0.1:8101"
    assert run.shown("TOKEN_KEEPER_URL", "http://127.0.0.1:8102") == "http://127.0.0.1:8102"


def test_env_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    run = launcher()
    path = tmp_path / "endpoints.env"
    path.write_text("OLD=1\n")
    path.chmod(0o644)  # a file from an older run, readable by all
    run.write_private(path, {"SERVICE_TOKEN": "s3cret"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "SERVICE_TOKEN=s3cret\n"
