"""`make run` supervises: a service killed with SIGKILL is reported and started again while the
rest keeps running; one that keeps dying makes it stop everything and exit non-zero."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import scratch_topic_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.connected]

ROOT = Path(__file__).resolve().parents[1]
OFFSET = 2000  # beside a developer's own `make run`


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def wait_for(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.mark.timeout(600)
def test_a_killed_service_is_restarted_and_one_that_keeps_dying_stops_the_run(
    database_settings: DatabaseSettings, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    env = os.environ | {
        "DATABASE_URL": database_settings.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": scratch_topic_prefix("make-run"),
        "MOORING_RUN_PORT_OFFSET": str(OFFSET),
        "MOORING_RUN_STATE_DIR": str(tmp_path),
        "MOORING_RUN_MAX_RESTARTS": "1",
    }
    output = (tmp_path / "run.out").open("wb")
    run = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy/local/run.py")],
        env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    pids: dict[str, int] = {}
    try:
        wait_for((tmp_path / "endpoints.env").exists, 240, "make run to be ready")
        pids = json.loads((tmp_path / "pids.json").read_text())
        os.kill(pids["billing-gate"], signal.SIGKILL)
        wait_for(
            lambda: (
                json.loads((tmp_path / "pids.json").read_text())["billing-gate"]
                != pids["billing-gate"]
            ),
            30,
            "billing-gate to be restarted",
        )
        wait_for(lambda: ready(8105 + OFFSET), 90, "the restarted billing-gate to be ready")
        restarted = json.loads((tmp_path / "pids.json").read_text())
        for name, pid in pids.items():
            if name != "billing-gate":
                assert restarted[name] == pid, name
                assert alive(pid), f"{name} went down with billing-gate"
        assert run.poll() is None
        os.kill(restarted["billing-gate"], signal.SIGKILL)  # twice in five minutes: give up
        run.wait(timeout=90)
        log = (tmp_path / "run.out").read_text()
        assert run.returncode == 1, log[-2000:]
        assert "restarting in 1 s" in log
        assert "giving up and stopping everything" in log
        final = json.loads((tmp_path / "pids.json").read_text())
        for name, pid in final.items():
            assert not alive(pid), f"{name} still runs after make run gave up"
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGINT)
            run.wait(timeout=60)
        output.close()
