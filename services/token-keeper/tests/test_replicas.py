"""Replicas: two real token-keeper processes and the on-demand route racing on one account make
one refresh call; two scheduler replicas run a tick once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from mooring.db.engine import create_engine, create_session_factory
from mooring.db.migrate import upgrade
from mooring.events.token import TokenExpiring
from mooring.messaging.outbox import Outbox
from mooring.platforms.simulator import simulator_environment, simulator_settings
from mooring.service.runtime import ServiceRuntime
from mooring.settings import DatabaseSettings, KafkaSettings, VaultSettings
from mooring.testing import read_topic, scratch_topic_prefix, unique
from mooring.uow import UnitOfWorkDeps
from mooring.vault import Vault
from token_keeper.main import REFRESH_JOB, create_app
from token_keeper.service_layer.unit_of_work import KeeperUnitOfWork

from .conftest import TOKEN, Accounts, Control, eventually, free_port, service_settings, sql_uow

pytestmark = [pytest.mark.connected, pytest.mark.e2e]

TOKEN_PATH = "/x/2/oauth2/token"


@contextmanager
def token_keeper_process(env: dict[str, str], log: Path) -> Iterator[str]:
    """`python -m token_keeper` on a free port; its JSON log goes to `log`."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "token_keeper"],
            env={**os.environ, **env, "TOKEN_KEEPER_HTTP_PORT": str(port),
                 "TOKEN_KEEPER_CONSUMER_GROUP": unique("tk-proc")},
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def prefixed_uow(
    accounts: Accounts, vault: VaultSettings, prefix: str
) -> Callable[[], KeeperUnitOfWork]:
    """A unit of work whose events go to `prefix`'s topics (the processes' environment)."""
    deps = UnitOfWorkDeps(
        sessions=create_session_factory(accounts.engine),
        outbox=Outbox(prefix),
        source="token-keeper-test",
        vault=Vault.from_settings(vault),
    )
    return lambda: KeeperUnitOfWork(deps)


async def wait_http_ready(url: str) -> None:
    async def ready() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(f"{url}/health/ready")).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(ready, timeout_s=60, every_s=0.2)


async def test_ten_concurrent_attempts_from_two_processes_and_the_route_make_one_refresh_call(
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    vault_settings: VaultSettings,
    sim_url: str,
    accounts: Accounts,
    sim: Control,
    tmp_path: Path,
) -> None:
    prefix = scratch_topic_prefix("tk-race")
    env = {
        "DATABASE_URL": database_settings.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": prefix,
        "MOORING_VAULT_KEYS": vault_settings.keys.get_secret_value(),
        "MOORING_VAULT_CURRENT_KEY_ID": vault_settings.current_key_id,
        "TOKEN_KEEPER_SERVICE_TOKENS": TOKEN,
        "TOKEN_KEEPER_SCHEDULER_ENABLED": "false",
        "TOKEN_KEEPER_MIGRATE_ON_START": "false",
        **simulator_environment(sim_url),
    }
    account, tokens = await accounts.connect("x")
    await accounts.make_due(account.id, in_=timedelta(minutes=2))  # due for workers and route
    # A slow platform, so every attempt arrives while the first one holds the lock.
    await sim.post(
        "/faults", {"platform": "x", "path": "/2/oauth2/token", "kind": "latency", "seconds": 0.5}
    )
    before = await sim.calls("x", TOKEN_PATH)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with token_keeper_process(env, logs[0]) as a, token_keeper_process(env, logs[1]) as b:
        await asyncio.gather(wait_http_ready(a), wait_http_ready(b))
        # Each process is its own consumer group: both get all three events (6 attempts)...
        async with prefixed_uow(accounts, vault_settings, prefix)() as uow:
            for _ in range(3):
                uow.emit(
                    TokenExpiring(
                        account_id=account.id,
                        workspace_id=account.workspace_id,
                        platform="x",
                        expires_at=account.token_expires_at or tokens.issued_at,
                        refreshable=True,
                    )
                )
            await uow.commit()
        # ...and four publishers ask both processes for the token at the same time.
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(timeout=30, headers=headers) as client:
            answers = await asyncio.gather(
                *(
                    client.get(f"{url}/internal/v1/accounts/{account.id}/token")
                    for url in (a, b, a, b)
                )
            )
            for answer in answers:
                assert answer.status_code == 200, answer.text
            metrics = [(await client.get(f"{url}/metrics")).text for url in (a, b)]

            async def workers_done() -> bool:
                worker_lines = [
                    line
                    for text_ in [(await client.get(f"{u}/metrics")).text for u in (a, b)]
                    for line in text_.splitlines()
                    if line.startswith("mooring_token_keeper_refreshes_total{")
                    and 'trigger="worker"' in line
                ]
                return sum(float(line.rsplit(" ", 1)[1]) for line in worker_lines) >= 2

            await eventually(workers_done, timeout_s=60)

    assert await sim.calls("x", TOKEN_PATH) == before + 1  # exactly one refresh reached it
    stored = await accounts.get(account.id)
    assert stored.status == "connected"
    assert stored.credentials.access_token is not None
    fresh = stored.credentials.access_token.get_secret_value()
    assert fresh != tokens.access_token.get_secret_value()
    assert {answer.json()["access_token"] for answer in answers} == {fresh}
    assert (await sim.token(fresh))["status"] == "ok"

    refreshed = await read_topic(
        kafka_settings.bootstrap_servers,
        prefix + "token.refreshed",
        until=lambda rs: any(r.key == str(account.id).encode() for r in rs),
        settle_s=1.5,
    )
    mine = [r for r in refreshed if r.key == str(account.id).encode()]
    assert len(mine) == 1
    # The token went to the four callers and nowhere else: not in logs, events or metrics.
    for log in logs:
        assert fresh not in log.read_text()
        assert "service started" in log.read_text()
    for record in refreshed:
        assert fresh not in record.value.decode()
    for page in metrics:
        assert fresh not in page


async def test_two_scheduler_replicas_run_a_tick_once(
    scratch_database: DatabaseSettings,
    kafka_settings: KafkaSettings,
    vault_settings: VaultSettings,
    sim_url: str,
    sim: Control,
) -> None:
    await asyncio.to_thread(upgrade, scratch_database)
    prefix = scratch_topic_prefix("tk-sched")
    engine = create_engine(scratch_database, application_name="tk-sched-test")
    try:
        made = Accounts(engine, sql_uow(engine, vault_settings), simulator_settings(sim_url))
        account, _ = await made.connect("x")
        await made.make_due(account.id)

        def replica() -> Any:
            return create_app(
                service_settings(
                    scratch_database, kafka_settings, vault_settings, sim_url, prefix,
                    scheduler_enabled=True, scheduler_poll_s=0.2,
                    consumer_group=f"{prefix}token-keeper",
                )
            )  # fmt: skip

        apps = [replica(), replica()]
        async with (
            apps[0].router.lifespan_context(apps[0]),
            apps[1].router.lifespan_context(apps[1]),
        ):
            runtimes: list[ServiceRuntime[Any]] = [app.state.runtime for app in apps]

            async def ran() -> bool:
                async with engine.connect() as conn:
                    status = (
                        (
                            await conn.execute(
                                text("SELECT status FROM job_runs WHERE job = :job"),
                                {"job": REFRESH_JOB},
                            )
                        )
                        .scalars()
                        .all()
                    )
                return status == ["succeeded"]

            await eventually(ran, timeout_s=60)

            async def refreshed() -> bool:
                return (await made.get(account.id)).refreshed_at is not None

            await eventually(refreshed, timeout_s=60)
            await asyncio.sleep(1.0)  # both schedulers poll several more times
            async with engine.connect() as conn:
                runs = (
                    await conn.execute(
                        text("SELECT count(*) FROM job_runs WHERE job = :job"), {"job": REFRESH_JOB}
                    )
                ).scalar_one()
            assert runs == 1
            assert [(await r.readiness()).ready for r in runtimes] == [True, True]
        expiring = await read_topic(
            kafka_settings.bootstrap_servers,
            prefix + "token.expiring",
            until=lambda rs: any(r.key == str(account.id).encode() for r in rs),
            settle_s=1.0,
        )
        assert [
            json.loads(r.value)["refreshable"]
            for r in expiring
            if r.key == str(account.id).encode()
        ] == [True]
        assert uuid.UUID(json.loads(expiring[0].value)["sweep_id"])
    finally:
        await engine.dispose()
