"""The connector as it runs: a real process over real HTTP, with a real billing-gate process, the
platform simulator, Kafka and PostgreSQL.

`stack` (one per test session) starts the simulator in this process (a uvicorn server on its own
thread, so the secret scan can read every token it ever issued from its store), then
billing-gate and the connector as subprocesses on free loopback ports, against the session's
database and a scratch topic prefix, with their JSON logs in files. Every response the tests get
from the two services is recorded for the same scan (test_zz_secret_scan.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.platforms.simulator import simulator_environment
from mooring.service.auth import GatewayJwtSettings, Role, issue_gateway_token
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import scratch_topic_prefix
from platform_sim.app import create_app as create_sim
from platform_sim.state import SimState

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / ".run" / "artifacts" / "connector"
REDIRECT = "http://127.0.0.1:3999/landing"
RATE_LIMIT = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SimThread:
    """The platform simulator served from a thread of this process (its state readable here)."""

    def __init__(self) -> None:
        self.state = SimState()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_sim(self.state),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="platform-sim", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the simulator did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def issued_secrets(self) -> set[str]:
        """Every token and code the simulator ever issued, and every Bluesky password it knows."""
        found = set(self.state.store.tokens) | set(self.state.store.codes)
        for account in list(self.state.bluesky.by_handle.values()):
            found |= {p for p in (account.app_password, account.main_password) if p}
        return found


@dataclass
class Service:
    """A service process that can be stopped and started again on the same port."""

    name: str
    module: str
    port: int
    env: dict[str, str]
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, env=self.env,
                stdout=sink, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(timeout=3) as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.url}/health/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready: {self.log.read_text()[-3000:]}")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.process = None


@dataclass
class Stack:
    sim: SimThread
    connector: Service
    billing: Service
    topic_prefix: str
    kafka: KafkaSettings
    engine: AsyncEngine
    gateway: GatewayJwtSettings
    service_token: str
    responses: list[str] = field(default_factory=list)

    def token(self, workspace_id: uuid.UUID, role: Role = "owner", user: str = "user-1") -> str:
        return issue_gateway_token(self.gateway, user_id=user, workspace_id=workspace_id, role=role)

    def _record(self, response: httpx.Response) -> None:
        # What the service answered (headers and body); not the URL the test asked for, which
        # carries the callback's code.
        headers = [f"{k}: {v}" for k, v in response.headers.items()]
        self.responses.append("\n".join([*headers, response.text]))

    async def _arecord(self, response: httpx.Response) -> None:
        await response.aread()
        self._record(response)

    @contextlib.asynccontextmanager
    async def client(
        self, workspace_id: uuid.UUID | None = None, role: Role = "owner", *, base: str = ""
    ) -> AsyncIterator[httpx.AsyncClient]:
        """A client of the connector (or `base`), as `role` of `workspace_id`; its every
        response is kept for the secret scan."""
        headers = {}
        if workspace_id is not None:
            headers["Authorization"] = f"Bearer {self.token(workspace_id, role)}"
        async with httpx.AsyncClient(
            base_url=base or self.connector.url,
            headers=headers,
            timeout=30,
            event_hooks={"response": [self._arecord]},
        ) as client:
            yield client

    async def sim_control(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.sim.url, timeout=10) as client:
            response = await client.request(method, f"/_control{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []

    async def accounts_of(self, workspace_id: uuid.UUID) -> list[Any]:
        return await self.sql(
            "SELECT id, platform, platform_account_id, status, version, account_type, "
            "credentials FROM accounts WHERE workspace_id = :ws ORDER BY created_at",
            ws=workspace_id,
        )

    def log_lines(self) -> list[str]:
        return [
            line
            for service in (self.connector, self.billing)
            for line in service.log.read_text(errors="replace").splitlines()
        ]


@pytest.fixture(scope="session")
def sim_thread() -> Iterator[SimThread]:
    sim = SimThread()
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="session")
async def stack(
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    engine: AsyncEngine,
    sim_thread: SimThread,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    logs = tmp_path_factory.mktemp("connector-stack")
    prefix = scratch_topic_prefix("connector")
    gateway_secret = secrets.token_urlsafe(32)
    service_token = secrets.token_urlsafe(24)
    connector_port, billing_port = free_port(), free_port()
    common = dict(os.environ) | {
        "DATABASE_URL": database_settings.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": prefix,
        "MOORING_GATEWAY_JWT_SECRET": gateway_secret,
        "MOORING_VAULT_KEYS": f"t1:{base64.b64encode(os.urandom(32)).decode()}",
        "MOORING_VAULT_CURRENT_KEY_ID": "t1",
    }
    billing = Service(
        "billing-gate",
        "billing_gate",
        billing_port,
        common | {
            "BILLING_GATE_HTTP_PORT": str(billing_port),
            "BILLING_GATE_SERVICE_TOKENS": service_token,
        },
        logs / "billing-gate.log",
    )  # fmt: skip
    connector = Service(
        "connector",
        "connector",
        connector_port,
        common | simulator_environment(sim_thread.url) | {
            "CONNECTOR_HTTP_PORT": str(connector_port),
            "CONNECTOR_PUBLIC_URL": f"http://127.0.0.1:{connector_port}",
            "CONNECTOR_CONNECT_RATE_LIMIT": str(RATE_LIMIT),
            "MOORING_BILLING_BASE_URL": f"http://127.0.0.1:{billing_port}",
            "MOORING_BILLING_SERVICE_TOKEN": service_token,
            # Short retries: the tests inject platform faults on purpose.
            "MOORING_PLATFORM_HTTP__RETRY_WAIT_INITIAL_SECONDS": "0.05",
            "MOORING_PLATFORM_HTTP__RETRY_WAIT_JITTER_SECONDS": "0.05",
        },
        logs / "connector.log",
    )  # fmt: skip
    try:
        await asyncio.gather(billing.start(), connector.start())
        yield Stack(
            sim=sim_thread,
            connector=connector,
            billing=billing,
            topic_prefix=prefix,
            kafka=kafka_settings,
            engine=engine,
            gateway=GatewayJwtSettings(secret=gateway_secret),  # type: ignore[arg-type]
            service_token=service_token,
        )
    finally:
        await asyncio.gather(connector.stop(), billing.stop())
