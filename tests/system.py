"""The whole system as OS processes for cross-service tests: the simulator, the SMTP catcher and
five services.

Like `make run`, on free ports, against the test session's database and a scratch topic prefix,
with fresh development secrets; every process's output goes to a file under the test's temporary
folder, which a failing test can show, and every e-mail the notifier sends to `System.mail_dir`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mooring.platforms.simulator import simulator_environment
from mooring.service.auth import GatewayJwtSettings, Role, issue_gateway_token
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import scratch_topic_prefix

__all__ = ["SERVICES", "System", "running_system"]

ROOT = Path(__file__).resolve().parents[1]

# package -> environment prefix
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


@dataclass
class System:
    env: dict[str, str]
    urls: dict[str, str]
    logs: Path
    gateway_secret: str
    service_token: str
    mail_dir: Path
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    async def kill(self, package: str) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed (a crash, an OOM kill)."""
        process = self.processes[package]
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()

    async def restart(self, package: str, *, timeout_s: float = 120) -> None:
        """Start a stopped or killed service again on its port, with the same environment."""
        if self.processes[package].returncode is None:
            raise RuntimeError(f"{package} is still running")
        self.processes[package] = await _start(
            package, [sys.executable, "-m", package], self.env, self.logs, append=True
        )
        await _ready(f"{self.urls[package]}/health/ready", self.processes[package], timeout_s)

    def gateway_token(self, workspace_id: uuid.UUID, role: Role = "owner") -> str:
        settings = GatewayJwtSettings(secret=self.gateway_secret)  # type: ignore[arg-type]
        return issue_gateway_token(
            settings, user_id="e2e-user", workspace_id=workspace_id, role=role
        )

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


async def _start(
    name: str, args: list[str], env: dict[str, str], logs: Path, *, append: bool = False
) -> asyncio.subprocess.Process:
    # A restarted process appends, so its log keeps what happened before the restart.
    with (logs / f"{name}.log").open("ab" if append else "wb") as sink:
        return await asyncio.create_subprocess_exec(
            *args, env=env, stdout=sink, stderr=asyncio.subprocess.STDOUT
        )


async def _listening(port: int, process: asyncio.subprocess.Process, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"port {port}: exited with {process.returncode} before listening")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port} after {timeout_s:.0f} s")


async def _ready(url: str, process: asyncio.subprocess.Process, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=3) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"{url} exited with {process.returncode} before it was ready")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout_s:.0f} s")


@contextlib.asynccontextmanager
async def running_system(
    database: DatabaseSettings,
    kafka: KafkaSettings,
    logs: Path,
    *,
    label: str = "system",
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[System]:
    """Start the simulator, the SMTP catcher and every service; stop them all (SIGTERM, then
    SIGKILL) at the end."""
    gateway_secret, service_token = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    sim_port, smtp_port = free_port(), free_port()
    mail_dir = logs / "mail"
    sim_url = f"http://127.0.0.1:{sim_port}"
    ports = {package: free_port() for package in SERVICES}
    urls = {package: f"http://127.0.0.1:{port}" for package, port in ports.items()}
    prefix = scratch_topic_prefix(label)
    env = dict(os.environ) | {
        "DATABASE_URL": database.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": prefix,
        "MOORING_VAULT_KEYS": f"e2e:{base64.b64encode(os.urandom(32)).decode()}",
        "MOORING_VAULT_CURRENT_KEY_ID": "e2e",
        "MOORING_GATEWAY_JWT_SECRET": gateway_secret,
        "MOORING_BILLING_BASE_URL": urls["billing_gate"],
        "MOORING_BILLING_SERVICE_TOKEN": service_token,
        **simulator_environment(sim_url),
        **{f"{p}_SERVICE_TOKENS": service_token for p in SERVICES.values()},
        **{f"{p}_HTTP_PORT": str(ports[package]) for package, p in SERVICES.items()},
        # The callback the platforms send browsers to: this connector, not one on the default port.
        "CONNECTOR_PUBLIC_URL": urls["connector"],
        # Never the catcher of a developer's `make run` on the default port.
        "NOTIFIER_SMTP_HOST": "127.0.0.1",
        "NOTIFIER_SMTP_PORT": str(smtp_port),
        "NOTIFIER_SMTP_SECURITY": "none",
        **(extra_env or {}),
    }
    system = System(env, urls | {"sim": sim_url}, logs, gateway_secret, service_token, mail_dir)
    try:
        sim = await _start(
            "platform-sim",
            [sys.executable, "-m", "platform_sim", "--host", "127.0.0.1", "--port", str(sim_port)],
            env,
            logs,
        )
        system.processes["platform-sim"] = sim
        await _ready(f"{sim_url}/_control/health", sim, 30)
        catcher = await _start(
            "smtp-catcher",
            [sys.executable, str(ROOT / "deploy/local/smtp_catcher.py"),
             "--port", str(smtp_port), "--dir", str(mail_dir)],
            env,
            logs,
        )  # fmt: skip
        system.processes["smtp-catcher"] = catcher
        await _listening(smtp_port, catcher, 30)
        # Migrations once, before the services race for them (as `make run` does).
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mooring.db.migrate", "upgrade", env=env
        )
        if await migrate.wait() != 0:
            raise RuntimeError("migrations failed")
        for package in SERVICES:
            system.processes[package] = await _start(
                package, [sys.executable, "-m", package], env, logs
            )
        await asyncio.gather(
            *(
                _ready(f"{urls[package]}/health/ready", system.processes[package], 120)
                for package in SERVICES
            )
        )
        yield system
    finally:
        for process in system.processes.values():
            if process.returncode is None:
                process.terminate()
        for process in system.processes.values():
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
