"""The notifier under load: a real `python -m notifier` process, real Kafka, PostgreSQL and SMTP.

Starts the local SMTP catcher (deploy/local/smtp_catcher.py, the one `make run` uses, writing
.eml files to a temporary folder) and the notifier on free loopback ports, in a database and
under a topic prefix of their own, then measures:

1. **burst**: 20,000 `account.disconnected` events across 2,000 workspaces (no owner known yet,
   so every e-mail is held and SMTP stays out of the way) produced as fast as possible; the
   figure is notifications persisted (committed, visible) per second, from the first send to
   the last notification. Baseline in the same run: a plain aiokafka consumer reading the same
   20,000 records (no database);
2. **e-mails**: the 2,000 owners become known (`workspace.owner_changed`), which releases the
   20,000 held e-mails; e-mails accepted by the SMTP server per second, from the first owner
   event to the last mail. Baseline in the same run: aiosmtplib sending the bytes of one of
   those mails over the same number of connections, nothing else (no database, no rendering,
   no parsing);
3. **paced**: 200 `account.disconnected` events per second for 30 s, owners known (so mail
   flows meanwhile); latency from each event's *scheduled* send time (so a late send counts)
   to its notification: `created_at` (the row's insert time, by the database's clock, which is
   this machine's) and, as an upper bound, the moment this process first sees the committed
   row (polled every 25 ms). Baseline in the same run: a plain aiokafka consumer on the same
   topic, latency from the scheduled time to receipt.

Writes bench/results/notifier.json. Needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (or the
launcher's .run/infra.env). Bounded in count and time; stops what it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aiosmtplib
import httpx
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from mooring.db.migrate import upgrade
from mooring.events import AccountDisconnected, Envelope, Event
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.service.runtime import ServiceRuntime
from mooring.service.settings import ServiceSettings
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import (
    delete_scratch_topics,
    infra_settings,
    scratch_topic_prefix,
    temporary_database,
)
from notifier.testing import account_disconnected, owner_changed

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
TOKEN = "bench-" + uuid.uuid4().hex
BURST = int(os.environ.get("BENCH_NOTIFIER_BURST", "20000"))
WORKSPACES = int(os.environ.get("BENCH_NOTIFIER_WORKSPACES", "2000"))
PACED_RATE = float(os.environ.get("BENCH_NOTIFIER_RATE", "200"))
PACED_SECONDS = float(os.environ.get("BENCH_NOTIFIER_SECONDS", "30"))
SENDERS = int(os.environ.get("BENCH_NOTIFIER_SENDERS", "2"))
BASELINE_MAILS = 2000
TIMEOUT_S = 600.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "count": len(ms),
        "p50_ms": round(pct(ms, 0.50), 1),
        "p90_ms": round(pct(ms, 0.90), 1),
        "p99_ms": round(pct(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def record(envelope: Envelope[Event]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers = [(k, v.encode()) for k, v in encode_headers(envelope).items()]
    return envelope.key.encode(), encode_body(envelope), headers


class Scratch:
    """The processes this benchmark starts, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, log: IO[bytes]) -> None:
        self.log = log
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *args, env=env, stdout=self.log, stderr=self.log
        )
        self.procs.append(proc)
        return proc

    async def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def wait_listening(port: int, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.returncode is None:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the SMTP catcher did not start")


async def wait_ready(port: int, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        while time.monotonic() < deadline and proc.returncode is None:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError("the notifier did not become ready")


async def scalar(conn: psycopg.AsyncConnection[Any], sql: str) -> Any:
    cursor = await conn.execute(sql)
    row = await cursor.fetchone()
    return row[0] if row else None


async def wait_count(
    conn: psycopg.AsyncConnection[Any], sql: str, expected: int, interval_s: float = 0.05
) -> float:
    """Poll until `sql` counts `expected`; the wall-clock time it was first seen."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if int(await scalar(conn, sql)) >= expected:
            return time.perf_counter()
        await asyncio.sleep(interval_s)
    raise RuntimeError(f"timed out waiting for {expected}: {sql}")


@contextlib.asynccontextmanager
async def producer(kafka: KafkaSettings, **options: Any) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, **options)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def plain_consume(kafka: KafkaSettings, topic: str, expected: int) -> float:
    """Records/s a bare aiokafka consumer reads `topic` from the start (the burst's baseline)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"bench-plain-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen, started = 0, time.perf_counter()
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            seen += sum(len(records) for records in batch.values())
        return expected / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def kernel_inbox_consume(
    database: DatabaseSettings, kafka: KafkaSettings, prefix: str, expected: int
) -> float:
    """Events/s the kernel's own batch consumer takes in with nothing but its inbox marks (a
    `ServiceRuntime.subscribe_batch` subscriber, a transaction per batch) reading the same
    records: what the notifier's intake costs on top of the platform's idempotent consume."""
    settings = ServiceSettings(
        kafka=kafka.model_copy(update={"topic_prefix": prefix}),
        database=database,
        migrate_on_start=False,
        relay_enabled=False,
        scheduler_enabled=False,
        consumer_group=f"bench-inbox-{uuid.uuid4().hex[:8]}",
    )
    runtime: ServiceRuntime[Any] = ServiceRuntime("bench-inbox", settings)
    seen, first, done = 0, 0.0, asyncio.Event()

    async def handler(envelopes: Sequence[Envelope[AccountDisconnected]], uow: Any) -> None:
        nonlocal seen, first
        del uow
        first = first or time.perf_counter()
        seen += len(envelopes)
        if seen >= expected:
            done.set()

    runtime.subscribe_batch(AccountDisconnected, handler, max_records=500)
    async with runtime.lifespan():
        await asyncio.wait_for(done.wait(), TIMEOUT_S)
        finished = time.perf_counter()
    return expected / (finished - first)


async def raw_smtp(port: int, template: bytes, count: int, connections: int) -> float:
    """Messages/s aiosmtplib alone hands the catcher (the e-mail phase's baseline): the bytes
    of a mail the notifier sent, with a fresh Message-ID each, nothing rendered or parsed."""
    sender, recipient = "bench@mooring.test", "owner@example.com"

    async def one_connection(n: int) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as smtp:
            for _ in range(n):
                data = template.replace(
                    b"Message-ID: <", f"Message-ID: <{uuid.uuid4()}.".encode(), 1
                )
                await smtp.sendmail(sender, [recipient], data)

    started = time.perf_counter()
    await asyncio.gather(*(one_connection(count // connections) for _ in range(connections)))
    return (count // connections * connections) / (time.perf_counter() - started)


async def burst_phase(
    database: DatabaseSettings,
    kafka: KafkaSettings,
    conn: psycopg.AsyncConnection[Any],
    prefix: str,
    pid: int,
    ws: list[uuid.UUID],
) -> dict[str, Any]:
    records = [
        record(account_disconnected(ws[i % len(ws)], platform="linkedin")) for i in range(BURST)
    ]
    topic = prefix + "account.disconnected"
    cpu = cpu_seconds(pid)
    async with producer(kafka, linger_ms=20, max_batch_size=256 * 1024, acks="all") as p:
        started = time.perf_counter()
        for key, value, headers in records:
            await p.send(topic, value=value, key=key, headers=headers)
        await p.flush()
        produced = time.perf_counter()
    done = await wait_count(conn, "SELECT count(*) FROM notifier_notifications", BURST)
    cpu = cpu_seconds(pid) - cpu
    elapsed = done - started
    held = int(await scalar(conn, "SELECT count(*) FROM notifier_deliveries WHERE status = 'held'"))
    notifications = int(await scalar(conn, "SELECT count(*) FROM notifier_notifications"))
    plain = await plain_consume(kafka, topic, BURST)
    kernel = await kernel_inbox_consume(database, kafka, prefix, BURST)
    rate = BURST / elapsed
    return {
        "events": BURST,
        "workspaces": len(ws),
        "produce_s": round(produced - started, 2),
        "elapsed_s": round(elapsed, 2),
        "notifications_per_s": round(rate, 1),
        "notifications": notifications,
        "held_emails": held,
        "service_cpu_ms_per_notification": round(cpu / BURST * 1000, 3),
        "kernel_inbox_consume_per_s": round(kernel, 1),
        "ratio_to_kernel_inbox_consume": round(rate / kernel, 3),
        "plain_consume_per_s": round(plain, 1),
        "ratio_to_plain_consume": round(rate / plain, 3),
    }


async def email_phase(
    kafka: KafkaSettings,
    conn: psycopg.AsyncConnection[Any],
    prefix: str,
    pid: int,
    ws: list[uuid.UUID],
    mail_dir: Path,
    smtp_port: int,
) -> dict[str, Any]:
    owners = [record(owner_changed(w, f"owner-{w.hex[:12]}@example.com")) for w in ws]
    topic = prefix + "workspace.owner_changed"
    cpu = cpu_seconds(pid)
    async with producer(kafka, linger_ms=5) as p:
        started = time.perf_counter()
        for key, value, headers in owners:
            await p.send(topic, value=value, key=key, headers=headers)
        await p.flush()
    done = await wait_count(
        conn, "SELECT count(*) FROM notifier_deliveries WHERE status = 'sent'", BURST, 0.1
    )
    cpu = cpu_seconds(pid) - cpu
    rate = BURST / (done - started)
    files = sorted(mail_dir.glob("*.eml"))
    failed = int(
        await scalar(conn, "SELECT count(*) FROM notifier_deliveries WHERE status <> 'sent'")
    )
    retries = int(
        await scalar(conn, "SELECT coalesce(sum(attempts - 1), 0) FROM notifier_deliveries")
    )
    raw = await raw_smtp(smtp_port, files[0].read_bytes(), BASELINE_MAILS, SENDERS)
    return {
        "emails": BURST,
        "senders": SENDERS,
        "elapsed_s": round(done - started, 2),
        "emails_per_s": round(rate, 1),
        "eml_files": len(files),
        "not_sent": failed,
        "retries": retries,
        "service_cpu_ms_per_email": round(cpu / BURST * 1000, 3),
        "raw_aiosmtplib_per_s": round(raw, 1),
        "ratio_to_raw_aiosmtplib": round(rate / raw, 3),
    }


async def paced_phase(
    kafka: KafkaSettings, conn: psycopg.AsyncConnection[Any], prefix: str, ws: list[uuid.UUID]
) -> dict[str, Any]:
    topic = prefix + "account.disconnected"
    total = int(PACED_RATE * PACED_SECONDS)
    scheduled: dict[bytes, float] = {}
    received: dict[bytes, float] = {}
    seen: dict[str, float] = {}

    plain = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"bench-paced-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await plain.start()
    while not plain.assignment():
        await plain.getmany(timeout_ms=200)
    await plain.seek_to_end()

    async def listen() -> None:
        while len(received) < total:
            batch = await plain.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for r in records:
                    received.setdefault(r.key, now)

    async def watch() -> None:
        # Committed rows as this process sees them: an upper bound on the latency.
        last = datetime.now(UTC)
        while len(seen) < total:
            cursor = await conn.execute(
                "SELECT account_id::text, created_at FROM notifier_notifications "
                "WHERE created_at > %s AND kind = 'account_disconnected' ORDER BY created_at",
                (last,),
            )
            now = time.time()
            for account, created in await cursor.fetchall():
                seen.setdefault(account, now)
                last = max(last, created)
            await asyncio.sleep(0.025)

    listener, watcher = asyncio.create_task(listen()), asyncio.create_task(watch())
    async with producer(kafka, linger_ms=0) as p:
        start = time.time() + 0.5
        for i in range(total):
            due = start + i / PACED_RATE
            await asyncio.sleep(max(0.0, due - time.time()))
            at = datetime.fromtimestamp(due, UTC)
            key, value, headers = record(account_disconnected(ws[i % len(ws)], at=at))
            scheduled[key] = due
            await p.send(topic, value=value, key=key, headers=headers)
        await p.flush()
        sent_s = time.time() - start
    try:
        await asyncio.wait_for(asyncio.gather(listener, watcher), TIMEOUT_S)
    finally:
        listener.cancel()
        watcher.cancel()
        await plain.stop()
    cursor = await conn.execute(
        "SELECT extract(epoch FROM created_at - occurred_at) FROM notifier_notifications "
        "WHERE occurred_at >= %s",
        (datetime.fromtimestamp(start - 0.001, UTC),),
    )
    inserted = [float(r[0]) for r in await cursor.fetchall()]
    visible = [seen[k.decode()] - scheduled[k] for k in scheduled if k.decode() in seen]
    kafka_only = [received[k] - scheduled[k] for k in scheduled if k in received]
    result = {
        "offered_per_s": PACED_RATE,
        "seconds": PACED_SECONDS,
        "events": total,
        "achieved_send_per_s": round(total / sent_s, 1),
        "to_insert": latency_summary(inserted),
        "to_visible": latency_summary(visible),
        "plain_kafka": latency_summary(kafka_only),
    }
    result["p99_ratio_to_plain_kafka"] = round(
        result["to_visible"]["p99_ms"] / max(result["plain_kafka"]["p99_ms"], 0.1), 2
    )
    return result


async def bench(log: IO[bytes], database: DatabaseSettings, kafka: KafkaSettings) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, database)
    prefix = scratch_topic_prefix("bench-notifier")
    mail_dir = Path(tempfile.mkdtemp(prefix="notifier-bench-mail-"))
    smtp_port, http_port = free_port(), free_port()
    scratch = Scratch(log)
    env = dict(os.environ) | {
        "DATABASE_URL": database.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": prefix,
        "NOTIFIER_HTTP_PORT": str(http_port),
        "NOTIFIER_SERVICE_TOKENS": TOKEN,
        "NOTIFIER_LOG_LEVEL": "WARNING",
        "NOTIFIER_MIGRATE_ON_START": "false",
        "NOTIFIER_SMTP_PORT": str(smtp_port),
        "NOTIFIER_DELIVERY_SENDERS": str(SENDERS),
        "NOTIFIER_DELIVERY_POLL_S": "0.2",
        "NOTIFIER_HELD_SWEEP_S": "5",
    }
    try:
        catcher = await scratch.start(
            sys.executable, str(ROOT / "deploy/local/smtp_catcher.py"),
            "--port", str(smtp_port), "--dir", str(mail_dir), env=env,
        )  # fmt: skip
        await wait_listening(smtp_port, catcher)
        service = await scratch.start(sys.executable, "-m", "notifier", env=env)
        await wait_ready(http_port, service)
        ws = [uuid.uuid4() for _ in range(WORKSPACES)]
        async with await psycopg.AsyncConnection.connect(
            database.libpq_url, autocommit=True
        ) as conn:
            burst = await burst_phase(database, kafka, conn, prefix, service.pid, ws)
            print(f"  burst: {burst['notifications_per_s']} notifications/s", flush=True)
            emails = await email_phase(kafka, conn, prefix, service.pid, ws, mail_dir, smtp_port)
            print(f"  e-mails: {emails['emails_per_s']} e-mails/s", flush=True)
            paced = await paced_phase(kafka, conn, prefix, ws)
    finally:
        await scratch.stop()
        await delete_scratch_topics(kafka.bootstrap_servers)
        for path in mail_dir.glob("*"):
            path.unlink()
        mail_dir.rmdir()
    return {"benchmark": "notifier", "burst": burst, "emails": emails, "paced": paced}


async def main() -> int:
    server, kafka = infra_settings()
    with tempfile.TemporaryFile() as log, temporary_database(server, "mooring_bench") as database:
        try:
            result = await bench(log, database, kafka)
        except Exception:
            log.seek(0)
            tail = log.read().decode(errors="replace").splitlines()[-30:]
            print("notifier log (last lines):", *tail, sep="\n  ")
            raise
    result["cpus"] = os.cpu_count()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "notifier.json").write_text(json.dumps(result, indent=2) + "\n")
    b, e, p = result["burst"], result["emails"], result["paced"]
    print("notifier: real process, Kafka, PostgreSQL and the SMTP catcher on loopback")
    print(
        f"  burst of {b['events']} account.disconnected across {b['workspaces']} workspaces: "
        f"{b['notifications_per_s']} notifications persisted/s ({b['elapsed_s']} s; "
        f"{b['service_cpu_ms_per_notification']} ms service CPU each) = "
        f"{b['ratio_to_kernel_inbox_consume']}x the kernel's inbox-only batch consumer "
        f"({b['kernel_inbox_consume_per_s']}/s), {b['ratio_to_plain_consume']}x a plain "
        f"aiokafka consume without a database ({b['plain_consume_per_s']}/s)"
    )
    print(
        f"  e-mails released by {b['workspaces']} owner changes: {e['emails_per_s']} sent/s "
        f"({e['senders']} senders, {e['eml_files']} .eml files, {e['not_sent']} not sent, "
        f"{e['retries']} retries) = {e['ratio_to_raw_aiosmtplib']}x raw aiosmtplib "
        f"({e['raw_aiosmtplib_per_s']}/s over {e['senders']} connections)"
    )
    v, k = p["to_visible"], p["plain_kafka"]
    print(
        f"  paced {p['offered_per_s']:.0f} events/s for {p['seconds']:.0f} s: event -> "
        f"notification p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms, max {v['max_ms']} ms "
        f"(committed and seen; insert time p99 {p['to_insert']['p99_ms']} ms); plain Kafka "
        f"p99 {k['p99_ms']} ms -> {p['p99_ratio_to_plain_kafka']}x"
    )
    print(f"  written to {RESULTS / 'notifier.json'}")
    ok = b["notifications"] == b["events"] and e["not_sent"] == 0 and e["eml_files"] == e["emails"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
