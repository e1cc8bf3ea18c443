"""Outbox → relay → Kafka → idempotent consumer through a real ServiceRuntime, against plain
aiokafka produce + consume in the same run.

Prints events/s for both and their ratio, and commit-to-consume latency p50/p99 at a paced
500 events/s. Then, on the rows the runs left (one outbox row and one inbox row per event), aged
past their retention: how fast the relay's pruning deletes them, against the pipeline's own
rate, since the tables stay bounded only if pruning outruns what the pipeline adds. Writes
bench/results/pipeline.json. Needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS
(`make bench` provides them). Loopback only; bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mooring.db.engine import create_engine
from mooring.db.migrate import upgrade
from mooring.events import AccountConnected, Envelope, utcnow
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.messaging.outbox import Outbox
from mooring.messaging.relay import OutboxRelay
from mooring.messaging.topics import ensure_topics
from mooring.service.runtime import ServiceRuntime
from mooring.service.settings import ServiceSettings
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import delete_scratch_topics, scratch_topic_prefix, temporary_database
from mooring.uow import SqlUnitOfWork

RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).resolve().parent / "results")
N_THROUGHPUT = int(os.environ.get("BENCH_EVENTS", "20000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
N_PER_RECORD = int(os.environ.get("BENCH_PER_RECORD_EVENTS", "3000"))
PACED_RATE = 500
PACED_SECONDS = 10
WRITERS = 2
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


class Sink:
    """The consumer under test. The runtime deduplicates through the inbox (the inbox rows are
    written in the handler's transaction, and only first deliveries reach the handler), so the
    handler's effect is counting what it was given; an event is seen when its handler runs,
    in the transaction that commits its inbox row."""

    def __init__(self, engine, clock=time.perf_counter) -> None:  # noqa: ANN001
        self.engine = engine
        self.clock = clock
        self.group = f"bench-{uuid.uuid4().hex[:8]}"
        self.seen: dict[uuid.UUID, float] = {}
        self.effects = 0
        self.done = asyncio.Event()
        self.expected = 0

    def _saw(self, ids: list[uuid.UUID]) -> None:
        now = self.clock()
        for event_id in ids:
            self.seen.setdefault(event_id, now)
        if len(self.seen) >= self.expected:
            self.done.set()

    async def one(self, envelope: Envelope[AccountConnected], _uow: SqlUnitOfWork) -> None:
        self.effects += 1
        self._saw([envelope.id])

    async def many(
        self, envelopes: Sequence[Envelope[AccountConnected]], _uow: SqlUnitOfWork
    ) -> None:
        self.effects += len(envelopes)
        self._saw([e.id for e in envelopes])


@contextlib.asynccontextmanager
async def service(
    database: DatabaseSettings, kafka: KafkaSettings, sink: Sink, *, batch: bool
) -> AsyncIterator[ServiceRuntime]:
    """A real ServiceRuntime: its own outbox relay, its subscriber, on a fresh topic prefix."""
    settings = ServiceSettings(
        kafka=kafka.model_copy(update={"topic_prefix": scratch_topic_prefix("bench")}),
        database=database,
        migrate_on_start=False,
        relay_enabled=True,
    )
    runtime = ServiceRuntime("bench", settings)
    if batch:
        runtime.subscribe_batch(AccountConnected, sink.many, group=sink.group, max_records=2000)
    else:
        runtime.subscribe(AccountConnected, sink.one, group=sink.group)
    async with runtime.lifespan():
        for _ in range(300):
            if (await runtime.readiness()).ready:
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the bench service never became ready")
        yield runtime


async def pipeline_throughput(
    database: DatabaseSettings, kafka: KafkaSettings, *, n: int, batch: bool
) -> dict:
    """Commit n events in one transaction; time from the commit to the last effect."""
    engine = create_engine(database, application_name="bench-pipeline")
    sink = Sink(engine)
    sink.expected = n
    try:
        async with service(database, kafka, sink, batch=batch) as runtime:
            events = [event() for _ in range(n)]
            write_started = time.perf_counter()
            async with AsyncSession(engine) as session:
                async with session.begin():
                    for start in range(0, n, WRITE_BATCH):
                        await runtime.outbox.add(session, *events[start : start + WRITE_BATCH])
                    ready_to_commit = time.perf_counter()
                committed = time.perf_counter()
            await asyncio.wait_for(sink.done.wait(), 300)
            done = time.perf_counter()
    finally:
        await engine.dispose()
    if len(sink.seen) != n or sink.effects != n:
        raise RuntimeError(f"consumed {len(sink.seen)}, effects {sink.effects} of {n}")
    return {
        "consumer": "batch (subscribe_batch)" if batch else "per record (subscribe)",
        "events": n,
        "seconds": done - committed,
        "events_per_s": n / (done - committed),
        "outbox_write_events_per_s": n / (ready_to_commit - write_started),
        "effects": sink.effects,
    }


async def plain_aiokafka(kafka: KafkaSettings) -> dict:
    topic = scratch_topic_prefix("bench-plain") + "events"
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
    writers = 16  # enough in flight that a slow commit does not lower the offered rate
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
    shares = [total // writers + (1 if i < total % writers else 0) for i in range(writers)]
    await asyncio.gather(*(writer(n) for n in shares))
    elapsed = time.monotonic() - started
    await engine.dispose()
    Path(out).write_text(json.dumps({"committed": committed, "rate": len(committed) / elapsed}))


async def paced_latency(database: DatabaseSettings, kafka: KafkaSettings) -> dict:
    total = PACED_RATE // WRITERS * WRITERS * PACED_SECONDS
    engine = create_engine(database, application_name="bench-latency")
    sink = Sink(engine, clock=time.monotonic)
    sink.expected = total
    try:
        async with service(database, kafka, sink, batch=True) as runtime:
            # Several writer processes, like several replicas of a producing service.
            outs = [RESULTS / f".writer-{uuid.uuid4().hex[:6]}.json" for _ in range(WRITERS)]
            writers = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    "writer",
                    runtime.settings.kafka.topic_prefix,
                    str(PACED_RATE // WRITERS),
                    str(PACED_SECONDS),
                    str(out),
                    env=os.environ | {"DATABASE_URL": database.url},
                )
                for out in outs
            ]
            if any([await w.wait() for w in writers]):
                raise RuntimeError("a paced writer failed")
            await asyncio.wait_for(sink.done.wait(), 120)
    finally:
        await engine.dispose()
    committed: dict[uuid.UUID, float] = {}
    achieved = 0.0
    for out in outs:
        written = json.loads(await asyncio.to_thread(out.read_text))
        out.unlink()
        committed |= {uuid.UUID(k): v for k, v in written["committed"].items()}
        achieved += written["rate"]
    latencies = [(sink.seen[i] - t) * 1000 for i, t in committed.items() if i in sink.seen]
    return {
        "target_rate": PACED_RATE,
        "achieved_rate": achieved,
        "writer_processes": WRITERS,
        "events": total,
        "consumed": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": max(latencies),
    }


async def pruning(database: DatabaseSettings) -> dict:
    """Age every published outbox row and inbox row past its retention, then one prune pass."""
    engine = create_engine(database, application_name="bench-prune")
    try:
        async with engine.begin() as conn:
            outbox = (
                await conn.execute(
                    text(
                        "UPDATE outbox SET published_at = published_at - interval '2 days' "
                        "WHERE published_at IS NOT NULL"
                    )
                )
            ).rowcount
            inbox = (
                await conn.execute(
                    text("UPDATE inbox SET processed_at = processed_at - interval '8 days'")
                )
            ).rowcount
        # Only pruning is asked of this relay: it never publishes, so it needs no producer.
        relay = OutboxRelay(engine, None, listen_url=database.libpq_url)  # type: ignore[arg-type]
        started = time.perf_counter()
        deleted = await relay.prune()
        seconds = time.perf_counter() - started
        async with engine.connect() as conn:
            left = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NOT NULL) "
                        "+ (SELECT count(*) FROM inbox)"
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return {
        "outbox_rows": outbox,
        "inbox_rows": inbox,
        "deleted": {"outbox": deleted[0], "inbox": deleted[1]},
        "left": int(left),
        "seconds": seconds,
        "rows_per_s": (deleted[0] + deleted[1]) / seconds,
        # One outbox row and one inbox row per event.
        "events_per_s": (deleted[0] + deleted[1]) / 2 / seconds,
    }


async def main() -> int:
    kafka = KafkaSettings()
    # A database of its own: nothing left in a development outbox can skew the figures.
    with temporary_database(DatabaseSettings(), "mooring_bench") as database:
        await asyncio.to_thread(upgrade, database)
        # Alternating rounds, ratio per round, median reported: the machine is shared and its
        # speed drifts between minutes, so only pairs measured side by side are compared.
        rounds = []
        for _ in range(ROUNDS):
            plain_round = await plain_aiokafka(kafka)
            pipeline_round = await pipeline_throughput(database, kafka, n=N_THROUGHPUT, batch=True)
            rounds.append((plain_round, pipeline_round))
        rounds.sort(key=lambda r: r[1]["events_per_s"] / r[0]["events_per_s"])
        plain, pipeline = rounds[len(rounds) // 2]
        per_record = await pipeline_throughput(database, kafka, n=N_PER_RECORD, batch=False)
        latency = await paced_latency(database, kafka)
        prune = await pruning(database)
    await delete_scratch_topics(kafka.bootstrap_servers)
    ratio = pipeline["events_per_s"] / plain["events_per_s"]
    result = {
        "bench": "pipeline",
        "plain_aiokafka": plain,
        "pipeline": pipeline,
        "pipeline_per_record_consumer": per_record,
        "ratio_pipeline_to_plain": ratio,
        "ratio_each_round": [p["events_per_s"] / a["events_per_s"] for a, p in rounds],
        "ratio_per_record_to_plain": per_record["events_per_s"] / plain["events_per_s"],
        "latency_at_500_per_s": latency,
        "pruning": prune,
        "ratio_prune_to_pipeline": prune["events_per_s"] / pipeline["events_per_s"],
        "targets": {"ratio_min": 0.30, "p50_ms_max": 100, "prune_ratio_min": 1.0},
        "met": {
            "ratio": ratio >= 0.30,
            "p50": latency["p50_ms"] < 100,
            "prune": prune["left"] == 0 and prune["events_per_s"] >= pipeline["events_per_s"],
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"plain aiokafka produce+consume: {plain['events_per_s']:9.0f} events/s ({plain['events']} events)"
    )
    print(
        f"outbox→relay→Kafka→consumer:    {pipeline['events_per_s']:9.0f} events/s "
        f"(batch subscriber; outbox writes {pipeline['outbox_write_events_per_s']:.0f}/s)"
    )
    print(
        f"  ratio to plain:               {ratio:9.2f}  median of rounds "
        f"{[round(r, 2) for r in result['ratio_each_round']]} "
        f"(target >= 0.30: {'met' if ratio >= 0.30 else 'NOT met'})"
    )
    print(
        f"  with a per-record subscriber: {per_record['events_per_s']:9.0f} events/s "
        f"(ratio {result['ratio_per_record_to_plain']:.2f}; a transaction per record)"
    )
    print(
        f"latency @ {latency['achieved_rate']:.0f}/s offered:     p50 {latency['p50_ms']:.1f} ms, "
        f"p99 {latency['p99_ms']:.1f} ms, max {latency['max_ms']:.1f} ms "
        f"(target p50 < 100 ms: {'met' if latency['p50_ms'] < 100 else 'NOT met'})"
    )
    print(
        f"pruning: {prune['deleted']['outbox']} outbox + {prune['deleted']['inbox']} inbox rows "
        f"in {prune['seconds']:.2f} s = {prune['events_per_s']:.0f} events/s, "
        f"{result['ratio_prune_to_pipeline']:.1f}x the pipeline's rate; {prune['left']} left "
        f"(target >= 1x and none left: {'met' if result['met']['prune'] else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["writer"]:
        prefix, rate, seconds, out = sys.argv[2:6]
        asyncio.run(write_paced(prefix, int(rate), int(seconds), out))
        sys.exit(0)
    sys.exit(asyncio.run(main()))
