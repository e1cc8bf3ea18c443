"""Outbox → relay → Kafka → idempotent consumer, against plain aiokafka in the same run.

Prints events/s for both and their ratio, and commit-to-consume latency p50/p99 at a paced
500 events/s; writes bench/results/pipeline.json. Needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS
(`make bench` provides them). Loopback only; bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from mooring.db.engine import create_engine
from mooring.db.migrate import upgrade
from mooring.events import AccountConnected, Envelope, utcnow
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.messaging.inbox import first_deliveries
from mooring.messaging.outbox import Outbox
from mooring.messaging.relay import OutboxRelay, create_idempotent_producer
from mooring.messaging.topics import ensure_topics
from mooring.settings import DatabaseSettings, KafkaSettings
from sqlalchemy.ext.asyncio import AsyncSession

RESULTS = Path(__file__).resolve().parent / "results"
N_THROUGHPUT = int(os.environ.get("BENCH_EVENTS", "20000"))
PACED_RATE = 500
PACED_SECONDS = 10
WRITE_BATCH = 100


def event() -> Envelope[AccountConnected]:
    return Envelope(
        payload=AccountConnected(
            account_id=uuid.uuid4(),
            workspace_id=uuid.uuid4(),
            platform="linkedin-page",
            platform_account_id="urn:li:organization:123456",
            username="acme",
            display_name="ACME Corporation",
            connected_at=utcnow(),
        ),
        source="bench",
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class IdempotentConsumer:
    """Batch inbox: one transaction per fetched batch, then the offsets are committed."""

    def __init__(self, engine, bootstrap: str, topic: str, clock=time.perf_counter) -> None:  # noqa: ANN001
        self.engine = engine
        self.clock = clock
        self.group = f"bench-{uuid.uuid4().hex[:8]}"
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=2000,
        )
        self.seen: dict[uuid.UUID, float] = {}
        self.effects = 0

    async def run(self, expected: int, deadline_s: float) -> None:
        await self.consumer.start()
        try:
            deadline = time.monotonic() + deadline_s
            while len(self.seen) < expected and time.monotonic() < deadline:
                batches = await self.consumer.getmany(timeout_ms=100, max_records=2000)
                records = [r for rs in batches.values() for r in rs]
                if not records:
                    continue
                ids = [uuid.UUID(dict(r.headers)["ce_id"].decode()) for r in records]
                async with AsyncSession(self.engine) as session, session.begin():
                    new = await first_deliveries(session, consumer=self.group, event_ids=ids)
                self.effects += len(new)
                await self.consumer.commit()
                now = self.clock()
                for event_id in ids:
                    self.seen.setdefault(event_id, now)
        finally:
            await self.consumer.stop()


async def pipeline_throughput(engine, database: DatabaseSettings, kafka: KafkaSettings) -> dict:  # noqa: ANN001
    """The outbox is filled first (timed on its own); then relay + Kafka + consumer are timed."""
    prefix = f"bench-{uuid.uuid4().hex[:6]}."
    topic = prefix + "account.connected"
    await ensure_topics(kafka.bootstrap_servers, [topic], partitions=3, request_timeout_ms=10_000)
    producer = create_idempotent_producer(kafka.bootstrap_servers, client_id="bench-relay")
    await producer.start()
    relay = OutboxRelay(engine, producer, listen_url=database.libpq_url, batch_size=1000)
    while await relay.relay_once():  # drain leftovers so they do not count
        pass
    box = Outbox(prefix)
    events = [event() for _ in range(N_THROUGHPUT)]
    write_started = time.perf_counter()
    for start in range(0, N_THROUGHPUT, WRITE_BATCH):
        async with AsyncSession(engine) as session, session.begin():
            await box.add(session, *events[start : start + WRITE_BATCH])
    write_seconds = time.perf_counter() - write_started
    consumer = IdempotentConsumer(engine, kafka.bootstrap_servers, topic)
    started = time.perf_counter()
    consume_task = asyncio.create_task(consumer.run(N_THROUGHPUT, 300))
    relay_task = asyncio.create_task(relay.run())
    await consume_task
    done = time.perf_counter()
    relay.stop()
    await relay_task
    await producer.stop()
    if len(consumer.seen) != N_THROUGHPUT or consumer.effects != N_THROUGHPUT:
        raise RuntimeError(
            f"consumed {len(consumer.seen)}, effects {consumer.effects} of {N_THROUGHPUT}"
        )
    return {
        "events": N_THROUGHPUT,
        "seconds": done - started,
        "events_per_s": N_THROUGHPUT / (done - started),
        "outbox_write_events_per_s": N_THROUGHPUT / write_seconds,
        "effects": consumer.effects,
    }


async def plain_aiokafka(kafka: KafkaSettings) -> dict:
    topic = f"bench-plain-{uuid.uuid4().hex[:6]}"
    await ensure_topics(kafka.bootstrap_servers, [topic], partitions=3, request_timeout_ms=10_000)
    sample = event()
    body, headers = (
        encode_body(sample),
        [(k, v.encode()) for k, v in encode_headers(sample).items()],
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=True, linger_ms=2
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"bench-plain-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=2000,
    )
    await producer.start()
    await consumer.start()
    received = 0

    async def consume() -> None:
        nonlocal received
        while received < N_THROUGHPUT:
            batches = await consumer.getmany(timeout_ms=100, max_records=2000)
            n = sum(len(rs) for rs in batches.values())
            if n:
                received += n
                await consumer.commit()

    started = time.perf_counter()
    consuming = asyncio.create_task(consume())
    futures = [
        await producer.send(topic, value=body, key=str(i).encode(), headers=headers)
        for i in range(N_THROUGHPUT)
    ]
    await asyncio.gather(*futures)
    await asyncio.wait_for(consuming, 300)
    elapsed = time.perf_counter() - started
    await producer.stop()
    await consumer.stop()
    return {"events": N_THROUGHPUT, "seconds": elapsed, "events_per_s": N_THROUGHPUT / elapsed}


async def write_paced(prefix: str, rate: int, seconds: int, out: str) -> None:
    """Runs in its own process, like a real producing service: one event per transaction."""
    database = DatabaseSettings()
    engine = create_engine(database, application_name="bench-writer")
    box = Outbox(prefix)
    committed: dict[str, float] = {}
    writers = 32  # enough in flight that a slow commit does not lower the offered rate
    total = rate * seconds

    async def writer(n: int) -> None:
        interval = writers / rate
        next_at = time.monotonic()
        for _ in range(n):
            e = event()
            async with AsyncSession(engine) as session, session.begin():
                await box.add(session, e)
            committed[str(e.id)] = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
            next_at += interval
            if (delay := next_at - time.monotonic()) > 0:
                await asyncio.sleep(delay)

    started = time.monotonic()
    await asyncio.gather(*(writer(total // writers) for _ in range(writers)))
    elapsed = time.monotonic() - started
    await engine.dispose()
    Path(out).write_text(json.dumps({"committed": committed, "rate": len(committed) / elapsed}))


async def paced_latency(engine, database: DatabaseSettings, kafka: KafkaSettings) -> dict:  # noqa: ANN001
    prefix = f"bench-{uuid.uuid4().hex[:6]}."
    topic = prefix + "account.connected"
    await ensure_topics(kafka.bootstrap_servers, [topic], partitions=3, request_timeout_ms=10_000)
    producer = create_idempotent_producer(kafka.bootstrap_servers, client_id="bench-relay")
    await producer.start()
    relay = OutboxRelay(engine, producer, listen_url=database.libpq_url)
    total = PACED_RATE * PACED_SECONDS
    consumer = IdempotentConsumer(engine, kafka.bootstrap_servers, topic, clock=time.monotonic)
    relay_task = asyncio.create_task(relay.run())
    consume_task = asyncio.create_task(consumer.run(total, 120))
    await asyncio.sleep(2.0)  # group join and LISTEN settle before the clock starts
    out = RESULTS / f".writer-{prefix}json"
    writer = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "writer", prefix, str(PACED_RATE), str(PACED_SECONDS), str(out)
    )
    if await writer.wait() != 0:
        raise RuntimeError("the paced writer failed")
    await consume_task
    relay.stop()
    await relay_task
    await producer.stop()
    written = json.loads(await asyncio.to_thread(out.read_text))
    out.unlink()
    committed = {uuid.UUID(k): v for k, v in written["committed"].items()}
    latencies = [(consumer.seen[i] - t) * 1000 for i, t in committed.items() if i in consumer.seen]
    return {
        "target_rate": PACED_RATE,
        "achieved_rate": written["rate"],
        "events": total,
        "consumed": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": max(latencies),
    }


async def main() -> int:
    database, kafka = DatabaseSettings(), KafkaSettings()
    await asyncio.to_thread(upgrade, database)
    engine = create_engine(database, application_name="bench-pipeline")
    try:
        plain = await plain_aiokafka(kafka)
        pipeline = await pipeline_throughput(engine, database, kafka)
        latency = await paced_latency(engine, database, kafka)
    finally:
        await engine.dispose()
    ratio = pipeline["events_per_s"] / plain["events_per_s"]
    result = {
        "bench": "pipeline",
        "plain_aiokafka": plain,
        "pipeline": pipeline,
        "ratio_pipeline_to_plain": ratio,
        "latency_at_500_per_s": latency,
        "targets": {"ratio_min": 0.30, "p50_ms_max": 100},
        "met": {"ratio": ratio >= 0.30, "p50": latency["p50_ms"] < 100},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"plain aiokafka:       {plain['events_per_s']:9.0f} events/s ({plain['events']} events)")
    print(
        f"outbox pipeline:      {pipeline['events_per_s']:9.0f} events/s "
        f"(outbox writes {pipeline['outbox_write_events_per_s']:.0f}/s)"
    )
    print(
        f"ratio:                {ratio:9.2f}  (target >= 0.30: {'met' if ratio >= 0.30 else 'NOT met'})"
    )
    print(
        f"latency @ {latency['achieved_rate']:.0f}/s:     p50 {latency['p50_ms']:.1f} ms, "
        f"p99 {latency['p99_ms']:.1f} ms, max {latency['max_ms']:.1f} ms "
        f"(target p50 < 100 ms: {'met' if latency['p50_ms'] < 100 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["writer"]:
        prefix, rate, seconds, out = sys.argv[2:6]
        asyncio.run(write_paced(prefix, int(rate), int(seconds), out))
        sys.exit(0)
    sys.exit(asyncio.run(main()))
