"""The failure tests' own Kafka broker and PostgreSQL server, which the tests stop and restart.

`deploy/local/stack.py start|stop failures-kafka|failures-postgres` runs them beside the main
stack (127.0.0.1:19096 and 127.0.0.1:55433 by default), so stopping them never disturbs a
`make test` or `make run` on the same machine. The session starts both and stops both at the end;
nothing here reads DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS or `.run/infra.env` (the root conftest's
fixtures are not used), and a configuration that would point at the main stack is refused.

The root conftest leaves this folder out of every run that does not name it (`make test`); it
runs as `make test-failures`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.db.engine import create_engine
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import delete_scratch_topics, temporary_database
from tests.system import SERVICES, System, running_system

from .stack import KAFKA_PORT, MAIN_PORTS, PG_PORT, FailureStack

# The schedulers run (a database restart must not break them), but daily: the sweeps run once
# at start, on an empty database, and the tests run the jobs they need on demand, so no sweep
# adds events of its own to what a test counts. Connects go to few workspaces: no plan cap or
# start rate may refuse one. A refresh a platform outage failed is tried again after a second
# (or the Retry-After), not five minutes.
SYSTEM_ENV = {
    "TOKEN_KEEPER_SWEEP_EVERY_S": "86400",
    "TOKEN_KEEPER_RETRY_EVERY_S": "86400",
    "HEALTH_CHECKER_STUCK_EVERY_S": "86400",
    "BILLING_GATE_DEFAULT_PLAN": "max",
    "CONNECTOR_CONNECT_RATE_LIMIT": "1000",
    "TOKEN_KEEPER_COOLDOWN_S": "1",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            for marker in ("e2e", "integration", "connected"):
                item.add_marker(marker)


@pytest.fixture(scope="session")
def failure_stack() -> Iterator[FailureStack]:
    if {KAFKA_PORT, PG_PORT} & MAIN_PORTS:
        raise RuntimeError(
            f"the failure stack's ports ({KAFKA_PORT}, {PG_PORT}) are the main stack's: these "
            "tests stop and restart their servers, never the ones `make test` uses"
        )
    stack = FailureStack(
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{KAFKA_PORT}"),
        server=DatabaseSettings(url=f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/mooring"),
    )
    try:
        stack.run("start", "failures-postgres")
        stack.run("start", "failures-kafka")
        yield stack
    finally:
        stack.run("stop", "failures-kafka")
        stack.run("stop", "failures-postgres")


@pytest.fixture(scope="session")
async def failure_kafka(failure_stack: FailureStack) -> AsyncIterator[KafkaSettings]:
    """The failure broker; the scratch topics the session made are deleted after it."""
    yield failure_stack.kafka
    failure_stack.ensure_running()
    await delete_scratch_topics(failure_stack.kafka.bootstrap_servers)


@pytest.fixture(scope="session")
def failure_database(failure_stack: FailureStack) -> Iterator[DatabaseSettings]:
    """A database of the session's own on the failure server (dropped after it)."""
    with temporary_database(failure_stack.server, "mooring_failures") as settings:
        yield settings
        failure_stack.ensure_running()


@pytest.fixture(scope="session")
async def failure_engine(failure_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(failure_database, application_name="mooring-failure-tests")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def system(
    failure_database: DatabaseSettings,
    failure_kafka: KafkaSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[System]:
    """Every service and the simulator as processes, once for the session (starting them costs
    ~20 s on the 2-core machine); each test leaves them running and ready, or the next one
    restarts what it killed."""
    logs: Path = tmp_path_factory.mktemp("system")
    async with running_system(
        failure_database, failure_kafka, logs, label="failures", extra_env=SYSTEM_ENV
    ) as system:
        yield system


@pytest.fixture(autouse=True)
async def _system_up(request: pytest.FixtureRequest, failure_stack: FailureStack) -> None:
    """Both servers up and every service running before each test, whatever the last one did."""
    await asyncio.to_thread(failure_stack.ensure_running)
    if "system" not in request.fixturenames:
        return
    system: System = request.getfixturevalue("system")
    for package in SERVICES:
        if system.processes[package].returncode is not None:
            await system.restart(package)


@pytest.fixture(autouse=True)
async def _no_accounts_left(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """The daily check walks every account: what one test connected, the next would check and
    count. Each test leaves the shared database without accounts."""
    yield
    if "failure_engine" in request.fixturenames:
        engine: AsyncEngine = request.getfixturevalue("failure_engine")
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM accounts"))
