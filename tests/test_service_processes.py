"""Each service as a real process: it starts, reports ready, logs JSON, and stops on SIGTERM."""

import asyncio
import base64
import json
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import scratch_topic_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.connected]

SERVICES = {
    "connector": "CONNECTOR",
    "token_keeper": "TOKEN_KEEPER",
    "health_checker": "HEALTH_CHECKER",
    "notifier": "NOTIFIER",
    "billing_gate": "BILLING_GATE",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_one(package: str, prefix: str, env: dict[str, str], tmp: Path) -> None:
    port = free_port()
    # A file, not a pipe: a pipe nobody reads until exit would block a chatty service.
    stderr = tmp / f"{package}.log"
    with stderr.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", package,
            env=env | {f"{prefix}_HTTP_PORT": str(port)},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 90
            ready = None
            while time.monotonic() < deadline and proc.returncode is None:
                try:
                    ready = await client.get("/health/ready")
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
            assert ready is not None, f"{package} never answered"
            assert ready.status_code == 200, (package, ready.text)
            assert ready.json()["checks"]["database"] == "ok"
            assert ready.json()["checks"]["kafka"] == "ok"
            assert (await client.get("/health/live")).json() == {"status": "alive"}
            metrics = await client.get("/metrics")
            assert f'mooring_ready{{service="{package.replace("_", "-")}"}} 1.0' in metrics.text
            assert re.search(
                r'mooring_http_request_seconds_count\{[^}]*route="/health/ready"[^}]*status="200"',
                metrics.text,
            ), "request latency is measured per route template"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=10)
        assert time.monotonic() - started < 10
        # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is the clean exit; the
        # "service stopped" line below proves the lifespan shutdown ran to the end.
        assert proc.returncode in {0, -signal.SIGTERM}, f"{package} exited {proc.returncode}"
        lines = stderr.read_text().splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        assert any(e["message"] == "service started" for e in entries), lines[-5:]
        assert any(e["message"] == "service stopped" for e in entries), lines[-5:]
        assert all(e["service"] == package.replace("_", "-") for e in entries)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_every_service_starts_reports_ready_and_stops_on_sigterm(
    database_settings: DatabaseSettings, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    env = dict(os.environ) | {
        "DATABASE_URL": database_settings.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": scratch_topic_prefix("processes"),
        "MOORING_VAULT_KEYS": f"p1:{base64.b64encode(os.urandom(32)).decode()}",
        "MOORING_VAULT_CURRENT_KEY_ID": "p1",
    }
    await asyncio.gather(*(run_one(pkg, prefix, env, tmp_path) for pkg, prefix in SERVICES.items()))
