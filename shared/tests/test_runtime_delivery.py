"""Delivery through the runtime on the real broker: retry-later, drain on stop, SIGKILL, jobs."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.events import AccountConnected, Envelope, utcnow
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.messaging.errors import RetryLater
from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime
from mooring.service.scheduler import JobContext
from mooring.service.serve import main as serve_main
from mooring.service.settings import ServiceSettings
from mooring.settings import ConsumerSettings, DatabaseSettings, KafkaSettings
from mooring.testing import read_topic, scratch_topic_prefix, unique
from mooring.uow import SqlUnitOfWork

pytestmark = [pytest.mark.integration, pytest.mark.connected]

PROGRAM = Path(__file__).parent / "programs" / "effects_consumer.py"


def event(account_id: uuid.UUID | None = None) -> Envelope[AccountConnected]:
    return Envelope(
        payload=AccountConnected(
            account_id=account_id or uuid.uuid4(), workspace_id=uuid.uuid4(), platform="x",
            platform_account_id="1", connected_at=utcnow(),
        ),
        source="test",
    )  # fmt: skip


@pytest.fixture(scope="module")
async def effects_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS test_effects (grp text NOT NULL, event_id uuid NOT NULL)"
            )
        )


@pytest.fixture
def settings(database_settings: DatabaseSettings, kafka_settings: KafkaSettings) -> ServiceSettings:
    return ServiceSettings(
        kafka=kafka_settings.model_copy(update={"topic_prefix": scratch_topic_prefix("delivery")}),
        database=database_settings,
        consumer=ConsumerSettings(max_attempts=2, backoff_ms=10, retry_later_initial_ms=100),
        migrate_on_start=False,
        relay_enabled=False,
    )


async def count(engine: AsyncEngine, group: str) -> dict[uuid.UUID, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event_id, count(*) FROM test_effects WHERE grp = :g GROUP BY event_id"),
            {"g": group},
        )
        return {r[0]: r[1] for r in rows}


async def until(check, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


async def produce(
    runtime: ServiceRuntime[SqlUnitOfWork], *events: Envelope[AccountConnected]
) -> None:
    topic = runtime.settings.kafka.topic_prefix + "account.connected"
    for e in events:
        await runtime.producer.send_and_wait(
            topic,
            value=encode_body(e),
            key=e.key.encode(),
            headers=[(k, v.encode()) for k, v in encode_headers(e).items()],
        )


async def test_a_record_whose_dependency_is_down_waits_keeps_its_key_order_and_is_not_dead_lettered(
    settings: ServiceSettings, engine: AsyncEngine, effects_table: None
) -> None:
    group, order = unique("retry-later"), []
    key = uuid.uuid4()
    blocked, behind = event(key), event(key)
    outages = 3

    async def handle(envelope: Envelope[AccountConnected], uow: SqlUnitOfWork) -> None:
        nonlocal outages
        if envelope.id == blocked.id and outages:
            outages -= 1
            raise RetryLater("platform outage", after=timedelta(milliseconds=150))
        order.append(envelope.id)
        await uow.session.execute(
            text("INSERT INTO test_effects (grp, event_id) VALUES (:g, :e)"),
            {"g": group, "e": envelope.id},
        )

    runtime = ServiceRuntime("retry-test", settings)
    runtime.subscribe(AccountConnected, handle, group=group)
    async with runtime.lifespan():
        await produce(runtime, blocked, behind)

        async def both() -> bool:
            return len(await count(engine, group)) == 2

        await until(both)
        dead = await read_topic(
            settings.kafka.bootstrap_servers,
            settings.kafka.topic_prefix + "account.connected.dlq",
            until=lambda _: True,
            settle_s=0.3,
        )
        outcomes = runtime.metrics.registry.get_sample_value(
            "mooring_messages_total",
            {
                "service": "retry-test",
                "topic": settings.kafka.topic_prefix + "account.connected",
                "outcome": "retry_later",
            },
        )
    assert order == [blocked.id, behind.id]  # the later event of the key waited behind it
    assert outages == 0
    assert dead == []
    assert outcomes == 3


async def test_a_clean_stop_drains_the_running_record_and_commits_its_offset(
    settings: ServiceSettings, engine: AsyncEngine, effects_table: None
) -> None:
    group, calls = unique("drain"), []
    slow, after = event(), event()
    entered = asyncio.Event()

    async def handle(envelope: Envelope[AccountConnected], uow: SqlUnitOfWork) -> None:
        calls.append(envelope.id)
        if envelope.id == slow.id:
            entered.set()
            await asyncio.sleep(1.0)
        await uow.session.execute(
            text("INSERT INTO test_effects (grp, event_id) VALUES (:g, :e)"),
            {"g": group, "e": envelope.id},
        )

    first = ServiceRuntime("drain-test", settings)
    first.subscribe(AccountConnected, handle, group=group)
    await first.start()
    try:
        await produce(first, slow)
        await asyncio.wait_for(entered.wait(), 30)
    finally:
        await first.stop()  # while `slow` is being handled
    assert (await count(engine, group)).get(slow.id) == 1  # it finished, it was not cut off
    second = ServiceRuntime("drain-test", settings)
    second.subscribe(AccountConnected, handle, group=group)
    async with second.lifespan():
        await produce(second, after)

        async def arrived() -> bool:
            return after.id in await count(engine, group)

        await until(arrived)
        duplicates = second.metrics.registry.get_sample_value(
            "mooring_messages_total",
            {
                "service": "drain-test",
                "topic": settings.kafka.topic_prefix + "account.connected",
                "outcome": "duplicate",
            },
        )
    assert calls == [slow.id, after.id]
    assert not duplicates  # its offset was committed before the consumer closed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(port: int, name: str, outcome: str) -> float:
    """The process's counter, or 0 while it is still starting."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            lines = response.read().decode().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith(name) and f'outcome="{outcome}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def spawn(
    settings: ServiceSettings, group: str, port: int, commit_ms: int
) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATABASE_URL": settings.database.url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka.topic_prefix,
        "MOORING_CONSUMER_COMMIT_INTERVAL_MS": str(commit_ms),
        "EFFECTS_GROUP": group,
        "EFFECTS_PORT": str(port),
    }
    return subprocess.Popen(
        [sys.executable, str(PROGRAM)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_sigkill_between_effect_and_offset_commit_redelivers_and_the_inbox_skips(
    settings: ServiceSettings, engine: AsyncEngine, effects_table: None
) -> None:
    group, n = unique("sigkill"), 200
    events = [event() for _ in range(n)]
    # A commit interval far longer than the test: every effect is committed, no offset is.
    killed = spawn(settings, group, port := free_port(), commit_ms=600_000)
    restarted: subprocess.Popen[bytes] | None = None
    producer_rt = ServiceRuntime("sigkill-producer", settings)
    try:
        for _ in range(300):
            if ready(port):
                break
            await asyncio.sleep(0.1)
        async with producer_rt.lifespan():
            await produce(producer_rt, *events)

        async def all_applied() -> bool:
            return len(await count(engine, group)) == n

        await until(all_applied, timeout_s=60)
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        restarted = spawn(settings, group, port2 := free_port(), commit_ms=200)

        async def all_skipped() -> bool:
            return (
                await asyncio.to_thread(metric, port2, "mooring_messages_total", "duplicate") >= n
            )

        await until(all_skipped, timeout_s=60)
        effects = await count(engine, group)
    finally:
        for proc in (killed, restarted):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(15)
    assert len(effects) == n
    assert set(effects.values()) == {1}  # every redelivered record was skipped, none applied twice


def test_a_job_runs_on_demand_from_the_command_line_with_its_progress(
    database_settings: DatabaseSettings, capfd: pytest.CaptureFixture[str]
) -> None:
    name = unique("social:test-job")
    started: list[str] = []

    def create_app(settings: ServiceSettings) -> FastAPI:
        runtime = ServiceRuntime("cli-test", settings)

        async def open_resources() -> None:
            started.append("open")

        async def job(ctx: JobContext) -> None:
            for done in range(1, 6):
                ctx.progress(done, 5, refreshed=done)

        runtime.on_start(open_resources)
        runtime.schedule(name, job, every=timedelta(hours=1))
        return build_http_app(runtime, title="cli test")

    settings = ServiceSettings(database=database_settings, migrate_on_start=False)
    assert serve_main("cli-test", ServiceSettings, lambda _: create_app(settings), ["jobs"]) == 0
    assert name in capfd.readouterr().out
    code = serve_main("cli-test", ServiceSettings, lambda _: create_app(settings), ["job", name])
    out, err = capfd.readouterr()
    assert code == 0
    assert f"{name} succeeded" in out
    assert "5/5" in err
    assert "refreshed=5" in err
    assert started == ["open"]
    unknown = serve_main("cli-test", ServiceSettings, lambda _: create_app(settings), ["job", "x"])
    assert unknown == 2
    assert "has no job 'x'" in capfd.readouterr().err


async def test_gauges_show_the_outbox_backlog_the_accounts_and_the_consumer_lag(
    settings: ServiceSettings, engine: AsyncEngine, effects_table: None
) -> None:
    from mooring.accounts import Account, Credentials
    from mooring.testing import random_vault_settings

    release = asyncio.Event()

    async def slow(envelope: Envelope[AccountConnected], uow: SqlUnitOfWork) -> None:
        await release.wait()

    quick = settings.model_copy(update={"gauge_interval_s": 0.2, "vault": random_vault_settings()})
    runtime = ServiceRuntime("gauge-test", quick)
    runtime.subscribe(AccountConnected, slow, group=unique("gauges"))
    runtime.export_account_counts()
    platform = unique("gauge-platform")
    async with runtime.lifespan():
        async with runtime.unit_of_work() as uow:
            await uow.accounts.add(
                Account.connect(
                    workspace_id=uuid.uuid4(), platform=platform, platform_account_id="1",
                    credentials=Credentials(),
                )
            )  # fmt: skip
            uow.emit(event())  # relay off: it waits in the outbox
            await uow.commit()
        await produce(runtime, *(event() for _ in range(5)))
        sample = runtime.metrics.registry.get_sample_value

        async def read() -> bool:
            lag = sum(
                sample(
                    "mooring_consumer_lag", {"service": "gauge-test", "topic": t, "partition": p}
                )
                or 0
                for t in [settings.kafka.topic_prefix + "account.connected"]
                for p in ("0", "1", "2")
            )
            waiting = sample(
                "mooring_outbox_backlog", {"service": "gauge-test", "state": "waiting"}
            )
            accounts = sample(
                "mooring_accounts",
                {"service": "gauge-test", "platform": platform, "status": "connected"},
            )
            # All five, including the one the stuck handler holds: nothing is committed.
            return lag == 5 and (waiting or 0) >= 1 and accounts == 1

        await until(read, timeout_s=30)
        release.set()


async def test_the_dlq_gauge_counts_dead_letters_until_they_are_replayed(
    settings: ServiceSettings,
) -> None:
    import httpx
    from aiokafka.admin import AIOKafkaAdminClient
    from prometheus_client.parser import text_string_to_metric_families

    from mooring.events import AccountDisconnected
    from mooring.messaging.dlq_replay import replay
    from mooring.messaging.errors import RejectEvent
    from mooring.messaging.topics import ensure_topics

    # Topics made by hand: account.disconnected is consumed, but nothing has created its DLQ.
    kafka = settings.kafka.model_copy(update={"create_topics": False})
    connected, disconnected = (
        kafka.topic_prefix + model.event_type for model in (AccountConnected, AccountDisconnected)
    )
    dlq, missing = connected + ".dlq", disconnected + ".dlq"
    await ensure_topics(
        kafka.bootstrap_servers, [connected, dlq, disconnected], partitions=3,
        request_timeout_ms=kafka.request_timeout_ms,
    )  # fmt: skip
    poison: set[uuid.UUID] = set()

    async def on_connected(envelope: Envelope[AccountConnected], uow: SqlUnitOfWork) -> None:
        if envelope.id in poison:
            raise RejectEvent("not applicable yet")  # dead-lettered at once, no retries

    async def on_disconnected(envelope: Envelope[AccountDisconnected], uow: SqlUnitOfWork) -> None:
        pass

    runtime = ServiceRuntime(
        "dlq-gauge-test", settings.model_copy(update={"kafka": kafka, "gauge_interval_s": 0.2})
    )
    runtime.subscribe(AccountConnected, on_connected, group=unique("dlq-gauge"))
    runtime.subscribe(AccountDisconnected, on_disconnected, group=unique("dlq-gauge"))
    app = build_http_app(runtime, title="dlq gauge test")

    async def scraped(http: httpx.AsyncClient) -> dict[str, float]:
        """`mooring_dlq_records` by topic, as Prometheus would scrape it."""
        text = (await http.get("/metrics")).text
        return {
            sample.labels["topic"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "mooring_dlq_records" and sample.labels["service"] == "dlq-gauge-test"
        }

    async def reads(http: httpx.AsyncClient, expected: int) -> None:
        async def check() -> bool:
            return await scraped(http) == {dlq: expected, missing: 0}

        await until(check, timeout_s=30)

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        bad = [event() for _ in range(3)]
        poison.update(e.id for e in bad)
        await produce(runtime, *bad, event())
        await reads(http, 3)
        await asyncio.sleep(1)  # several more reads: exactly 3, the good event not among them
        assert await scraped(http) == {dlq: 3, missing: 0}
        # The missing DLQ did not break the other gauges of the same read loop.
        labels = {"service": "dlq-gauge-test", "topic": connected, "partition": "0"}
        assert runtime.metrics.registry.get_sample_value("mooring_consumer_lag", labels) is not None

        poison.clear()  # the cause is fixed: what is replayed now takes effect
        assert (await replay(kafka, dlq, limit=2)).replayed == 2
        await reads(http, 1)  # what the replay has passed no longer waits
        assert (await replay(kafka, dlq)).replayed == 1
        await reads(http, 0)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        assert missing not in await admin.list_topics()  # reading it did not create it
    finally:
        await admin.close()


async def test_without_the_replay_progress_the_dlq_gauge_counts_what_the_dlq_retains(
    settings: ServiceSettings,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import GroupAuthorizationFailedError

    from mooring.messaging.dlq_replay import replay
    from mooring.messaging.topics import ensure_topics
    from mooring.service.gauges import GaugeReader
    from mooring.service.metrics import Metrics

    kafka = settings.kafka
    topic = kafka.topic_prefix + "account.connected"
    dlq = topic + ".dlq"
    await ensure_topics(
        kafka.bootstrap_servers, [topic, dlq], partitions=3,
        request_timeout_ms=kafka.request_timeout_ms,
    )  # fmt: skip
    writer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await writer.start()
    try:
        for e in (event(), event()):  # written straight to the DLQ, as a consumer would
            await writer.send_and_wait(
                dlq, value=encode_body(e), key=e.key.encode(),
                headers=[("dlq-original-topic", topic.encode())],
            )  # fmt: skip
    finally:
        await writer.stop()
    assert (await replay(kafka, dlq, limit=1)).replayed == 1

    metrics = Metrics("dlq-acl-test")
    reader = GaugeReader(
        service="dlq-acl-test", engine=engine, metrics=metrics, consumers=lambda: [(topic, None)],
        outbox=False, accounts=False, kafka=kafka, interval_s=0.1,
    )  # fmt: skip

    async def reads(expected: int) -> bool:
        labels = {"service": "dlq-acl-test", "topic": dlq}
        return metrics.registry.get_sample_value("mooring_dlq_records", labels) == expected

    task = asyncio.create_task(reader.run())
    try:
        await until(lambda: reads(1))  # one replayed, one waiting

        async def refused(*args: object, **kwargs: object) -> None:
            raise GroupAuthorizationFailedError("no DESCRIBE on the group")

        monkeypatch.setattr(AIOKafkaAdminClient, "list_consumer_group_offsets", refused)
        await until(lambda: reads(2))  # too many rather than none
        await asyncio.sleep(0.5)
        said = [r for r in caplog.records if "replay's progress" in r.getMessage()]
        assert len(said) == 1  # once, not every interval
        monkeypatch.undo()
        await until(lambda: reads(1))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_the_topics_command_creates_every_contract_topic_with_its_partitions(
    kafka_settings: KafkaSettings,
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    from mooring.messaging.topics import contract_topics

    prefix = scratch_topic_prefix("topics-cli")
    result = subprocess.run(
        [sys.executable, "-m", "mooring.messaging.topics", "--partitions", "2"],
        env=os.environ | {"KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
                          "KAFKA_TOPIC_PREFIX": prefix},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "22 topics in place" in result.stdout

    async def described() -> list[dict[str, object]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
        await admin.start()
        try:
            return list(await admin.describe_topics(contract_topics(prefix)))
        finally:
            await admin.close()

    topics = asyncio.run(described())
    assert len(topics) == 22
    assert all(len(t["partitions"]) == 2 for t in topics)  # type: ignore[arg-type]
