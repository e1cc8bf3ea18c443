"""`make token WORKSPACE=<uuid> ROLE=member`: a gateway token the services accept."""

import subprocess
import uuid
from pathlib import Path

import jwt
import pytest

from mooring.cli.dev_token import main
from mooring.service.auth import GatewayJwtSettings, authenticate_gateway

SECRET = "a-development-secret-of-32-bytes!!"
ROOT = Path(__file__).resolve().parents[3]


def test_a_token_for_any_workspace_user_and_role_from_the_env_file(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MOORING_GATEWAY_JWT_SECRET", raising=False)
    env_file = tmp_path / "dev-secrets.env"
    env_file.write_text(f"SERVICE_TOKEN=x\nMOORING_GATEWAY_JWT_SECRET={SECRET}\n")
    ws = uuid.uuid4()
    args = ["--env-file", str(env_file), "--workspace", str(ws), "--role", "member"]
    assert main([*args, "--user", "alice"]) == 0
    token = capsys.readouterr().out.strip()
    principal = authenticate_gateway(GatewayJwtSettings(secret=SECRET), token)
    assert (principal.workspace_id, principal.role, principal.user_id) == (ws, "member", "alice")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 12 * 3600


def test_the_environment_wins_over_the_file_and_no_secret_is_a_clear_error(
    tmp_path, monkeypatch, capsys
):
    env_file = tmp_path / "dev-secrets.env"
    env_file.write_text("MOORING_GATEWAY_JWT_SECRET=" + "f" * 40 + "\n")
    monkeypatch.setenv("MOORING_GATEWAY_JWT_SECRET", SECRET)
    assert main(["--env-file", str(env_file), "--workspace", str(uuid.uuid4())]) == 0
    token = capsys.readouterr().out.strip()
    authenticate_gateway(GatewayJwtSettings(secret=SECRET), token)  # raises if not signed so
    monkeypatch.delenv("MOORING_GATEWAY_JWT_SECRET")
    assert (
        main(["--env-file", str(tmp_path / "missing.env"), "--workspace", str(uuid.uuid4())]) == 2
    )
    assert "make run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--workspace", "not-a-uuid"])
    with pytest.raises(SystemExit):
        main(["--workspace", str(uuid.uuid4()), "--role", "king"])


def test_make_token_prints_only_the_token(tmp_path):
    answer = subprocess.run(
        # -o: never (re)install the virtualenv from inside a test run
        [
            "make",
            "-s",
            "-o",
            ".venv/.installed",
            "token",
            f"WORKSPACE={uuid.uuid4()}",
            "ROLE=admin",
        ],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "MOORING_GATEWAY_JWT_SECRET": SECRET, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    (line,) = answer.stdout.strip().splitlines()
    assert authenticate_gateway(GatewayJwtSettings(secret=SECRET), line).role == "admin"
