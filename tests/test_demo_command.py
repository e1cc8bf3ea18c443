"""`make demo`'s command (deploy/local/demo.py) when there is nothing to tell it against: it says
so and exits 2, rather than failing half-way through a story. The story itself, against a
running system, is tests/test_demo.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "deploy" / "local" / "demo.py"


def run_demo(state: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"MOORING_RUN_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, str(DEMO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def test_without_make_run_it_says_to_start_it_and_exits_2(tmp_path: Path) -> None:
    answer = run_demo(tmp_path)
    assert answer.returncode == 2, answer.stderr
    assert "make run" in answer.stderr
    assert answer.stdout == ""


def test_with_a_stack_that_has_gone_away_it_exits_2_and_asks_whether_it_still_runs(
    tmp_path: Path,
) -> None:
    gone = f"http://127.0.0.1:{closed_port()}"
    names = ["CONNECTOR", "TOKEN_KEEPER", "HEALTH_CHECKER", "NOTIFIER", "BILLING_GATE", "SIM"]
    lines = [f"{name}_URL={gone}" for name in names]
    lines += [f"MAIL_DIR={tmp_path / 'mail'}", "SERVICE_TOKEN=not-a-real-token-1234"]
    (tmp_path / "endpoints.env").write_text("\n".join(lines) + "\n")
    services = "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1\nMOORING_GATEWAY_JWT_SECRET=" + "s" * 32
    (tmp_path / "services.env").write_text(services + "\n")
    answer = run_demo(tmp_path)
    assert answer.returncode == 2, answer.stdout + answer.stderr
    assert "is `make run` still running?" in answer.stderr
    assert "not-a-real-token-1234" not in answer.stdout + answer.stderr


def test_state_files_lacking_a_value_are_named_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "endpoints.env").write_text("CONNECTOR_URL=http://127.0.0.1:1\n")
    (tmp_path / "services.env").write_text("KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1\n")
    answer = run_demo(tmp_path)
    assert answer.returncode == 2, answer.stderr
    assert "Traceback" not in answer.stderr
    assert "TOKEN_KEEPER_URL" in answer.stderr
    assert "MOORING_GATEWAY_JWT_SECRET" in answer.stderr
