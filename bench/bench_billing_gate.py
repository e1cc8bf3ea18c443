"""billing-gate latency over real HTTP: 50 concurrent callers against a real process.

Starts `python -m billing_gate` (uvicorn, loopback, its own port), seeds workspaces with plans
and accounts through the internal API, then measures:

- paced `GET .../decision`: 50 callers, each asking at a steady rate (connect starts are user
  clicks, so the service sees an open-loop arrival rate, not callers that re-ask the instant they
  are answered). Latency runs from the *scheduled* send time, not the actual one: a caller held
  up by a slow answer still owes the requests it should have sent meanwhile, and their wait
  counts (no coordinated omission);
- saturated `GET .../decision`: 50 callers back to back, for the throughput ceiling of one
  replica;
- contended `POST .../reservations`: 50 callers on 10 workspaces, back to back, each releasing
  its slot after a grant; every reserve and release waits for its workspace's row lock, so this
  is the serialised path (503s are lock timeouts, reported apart).

Target: p99 under 20 ms in the paced run. Bounded in request count; writes
bench/results/billing_gate.json. Needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (or the
launcher's .run/infra.env).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO

import httpx

from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import infra_settings, temporary_database

RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).resolve().parent / "results")
TOKEN = "bench-" + uuid.uuid4().hex
CALLERS = 50
WORKSPACES = 200
ACCOUNTS_PER_WORKSPACE = 3
# 50 callers x 2/s = 100 decisions/s: each is a person clicking "connect", so this is far above
# any real connect-start rate; the saturated run shows the ceiling of one replica.
PACED_RATE_PER_CALLER = float(os.environ.get("BENCH_BG_RATE", "2"))
PACED_REQUESTS = int(os.environ.get("BENCH_BG_PACED", "3000"))
SATURATED_REQUESTS = int(os.environ.get("BENCH_BG_SATURATED", "5000"))
CONTENDED_WORKSPACES = 10
CONTENDED_REQUESTS = int(os.environ.get("BENCH_BG_CONTENDED", "2000"))
TARGET_P99_MS = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux), to tell server cost from client cost."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(latencies_s: list[float], elapsed_s: float) -> dict[str, float]:
    ms = [v * 1000 for v in latencies_s]
    return {
        "requests": len(ms),
        "p50_ms": round(pct(ms, 0.50), 2),
        "p90_ms": round(pct(ms, 0.90), 2),
        "p99_ms": round(pct(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "throughput_rps": round(len(ms) / elapsed_s, 1),
    }


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for these requests.

    The load generator shares the CPUs with the service: httpx costs several ms of CPU per
    request, which would make this a benchmark of the client. Raw streams cost a fraction.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> int:
        status, _ = await self.request("GET", target)
        return status

    async def request(
        self, method: str, target: str, body: dict[str, object] | None = None
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None  # noqa: S101 - opened together
        payload = json.dumps(body).encode() if body is not None else b""
        extra = (
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            if body is not None
            else ""
        )
        self.writer.write(
            f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {TOKEN}\r\n{extra}\r\n".encode()
            + payload
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(
            (
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            ),
            0,  # a 204 carries no body and may carry no length
        )
        content = await self.reader.readexactly(length)
        return int(lines[0].split(" ", 2)[1]), content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def start_service(
    port: int, log: IO[bytes], database: DatabaseSettings, kafka: KafkaSettings
) -> asyncio.subprocess.Process:
    env = dict(os.environ) | {
        "DATABASE_URL": database.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": "bench.",  # fixed: re-runs reuse the same topics
        "BILLING_GATE_HTTP_HOST": "127.0.0.1",
        "BILLING_GATE_HTTP_PORT": str(port),
        "BILLING_GATE_SERVICE_TOKENS": TOKEN,
        "BILLING_GATE_LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "billing_gate", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=log,
    )  # fmt: skip


async def wait_ready(http: httpx.AsyncClient, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.returncode is None:
        try:
            if (await http.get("/health/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    raise RuntimeError("billing-gate did not become ready")


async def seed(http: httpx.AsyncClient) -> list[tuple[uuid.UUID, list[str]]]:
    plans = ["starter", "plus", "pro", "max"]
    workspaces = []
    for i in range(WORKSPACES):
        ws = uuid.uuid4()
        base = f"/internal/v1/workspaces/{ws}"
        (await http.put(f"{base}/plan", json={"plan": plans[i % 4]})).raise_for_status()
        handles = []
        for _ in range(ACCOUNTS_PER_WORKSPACE):
            handle = uuid.uuid4().hex
            r = await http.post(
                f"{base}/reservations", json={"platform": "x", "platform_account_id": handle}
            )
            r.raise_for_status()
            confirm = {"account_id": str(uuid.uuid4())}
            rid = r.json()["reservation_id"]
            (await http.post(f"{base}/reservations/{rid}/confirm", json=confirm)).raise_for_status()
            handles.append(handle)
        workspaces.append((ws, handles))
    return workspaces


async def run(
    port: int,
    workspaces: list[tuple[uuid.UUID, list[str]]],
    total: int,
    rate_per_caller: float | None,
) -> tuple[list[float], float, int]:
    """`total` decisions from CALLERS callers; paced when `rate_per_caller` is set."""
    latencies: list[float] = []
    errors = 0
    remaining = total

    async def caller(n: int) -> None:
        nonlocal remaining, errors
        conn = Connection(port)
        try:
            await ask(n, conn)
        finally:
            await conn.close()

    async def ask(n: int, conn: Connection) -> None:
        nonlocal remaining, errors
        rng = random.Random(n)
        interval = 1 / rate_per_caller if rate_per_caller else 0.0
        next_at = time.perf_counter() + rng.random() * interval
        while remaining > 0:
            remaining -= 1
            if interval:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                # Measured from when it was due: a late send is part of the wait.
                started = next_at
                next_at += interval
            ws, handles = rng.choice(workspaces)
            target = f"/internal/v1/workspaces/{ws}/decision"
            if rng.random() < 0.5:  # half the checks name an identity (a reconnect or a new one)
                handle = rng.choice(handles) if rng.random() < 0.5 else uuid.uuid4().hex
                target += f"?platform=x&platform_account_id={handle}"
            if not interval:
                started = time.perf_counter()
            status = await conn.get(target)
            latencies.append(time.perf_counter() - started)
            if status not in {200, 402}:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(CALLERS)))
    return latencies, time.perf_counter() - started, errors


async def contended(
    port: int, workspaces: list[uuid.UUID], total: int
) -> tuple[list[float], list[float], float, dict[int, int]]:
    """`total` reserves from CALLERS callers on few workspaces; each grant is released at once.

    Returns reserve latencies, release latencies, elapsed time and the reserve status counts.
    """
    reserve_s: list[float] = []
    release_s: list[float] = []
    statuses: dict[int, int] = {}
    remaining = total

    async def caller(n: int) -> None:
        nonlocal remaining
        rng = random.Random(1000 + n)
        conn = Connection(port)
        try:
            while remaining > 0:
                remaining -= 1
                base = f"/internal/v1/workspaces/{rng.choice(workspaces)}/reservations"
                body = {
                    "platform": "x",
                    "platform_account_id": uuid.uuid4().hex,
                    "reservation_id": str(uuid.uuid4()),
                }
                started = time.perf_counter()
                status, content = await conn.request("POST", base, body)
                reserve_s.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    rid = json.loads(content)["reservation_id"]
                    started = time.perf_counter()
                    await conn.request("DELETE", f"{base}/{rid}")
                    release_s.append(time.perf_counter() - started)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(CALLERS)))
    return reserve_s, release_s, time.perf_counter() - started, statuses


async def main() -> int:
    server, kafka = infra_settings()
    # A database of its own, so the seeded workspaces never land in a development database.
    with tempfile.TemporaryFile() as log, temporary_database(server, "mooring_bench") as database:
        try:
            return await bench(log, database, kafka)
        except Exception:
            log.seek(0)
            tail = log.read().decode(errors="replace").splitlines()[-20:]
            print("billing-gate log (last lines):", *tail, sep="\n  ")
            raise


async def bench(log: IO[bytes], database: DatabaseSettings, kafka: KafkaSettings) -> int:
    port = free_port()
    proc = await start_service(port, log, database, kafka)
    limits = httpx.Limits(max_connections=CALLERS, max_keepalive_connections=CALLERS)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            limits=limits,
            timeout=10,
        ) as http:
            await wait_ready(http, proc)
            workspaces = await seed(http)
            await run(port, workspaces, 1000, None)  # warm-up: pool, caches, JIT-free paths
            paced, paced_s, paced_err = await run(
                port, workspaces, PACED_REQUESTS, PACED_RATE_PER_CALLER
            )
            server_cpu, client_cpu = cpu_seconds(proc.pid), time.process_time()
            saturated, sat_s, sat_err = await run(port, workspaces, SATURATED_REQUESTS, None)
            server_cpu = cpu_seconds(proc.pid) - server_cpu
            client_cpu = time.process_time() - client_cpu
            # The max plan: every reserve is granted unless its lock is not had in time.
            contended_ws = [ws for ws, _ in workspaces[3::4]][:CONTENDED_WORKSPACES]
            reserves, releases, cont_s, statuses = await contended(
                port, contended_ws, CONTENDED_REQUESTS
            )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    result = {
        "benchmark": "billing_gate_decision",
        "callers": CALLERS,
        "target_p99_ms": TARGET_P99_MS,
        "paced": summary(paced, paced_s)
        | {"offered_rps": CALLERS * PACED_RATE_PER_CALLER, "errors": paced_err},
        "saturated": summary(saturated, sat_s)
        | {
            "errors": sat_err,
            "server_cpu_ms_per_request": round(server_cpu / len(saturated) * 1000, 2),
            "client_cpu_ms_per_request": round(client_cpu / len(saturated) * 1000, 2),
        },
        "contended_reserve": summary(reserves, cont_s)
        | {
            "workspaces": CONTENDED_WORKSPACES,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "release": summary(releases, cont_s) if releases else {},
        },
        "workspaces": WORKSPACES,
        "accounts_per_workspace": ACCOUNTS_PER_WORKSPACE,
        "cpus": os.cpu_count(),
    }
    result["meets_target"] = result["paced"]["p99_ms"] < TARGET_P99_MS and not paced_err
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "billing_gate.json").write_text(json.dumps(result, indent=2) + "\n")

    p, s = result["paced"], result["saturated"]
    print(f"billing-gate decision, {CALLERS} concurrent callers over HTTP (loopback, 1 process)")
    print(
        f"  paced {p['offered_rps']:.0f} req/s offered: p50 {p['p50_ms']} ms  p99 {p['p99_ms']} ms"
        f"  max {p['max_ms']} ms  ({p['requests']} requests, {p['errors']} errors)"
    )
    print(
        f"  saturated: {s['throughput_rps']} req/s  p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms"
        f"  ({s['requests']} requests, {s['errors']} errors)"
    )
    print(
        f"  CPU per request: service {s['server_cpu_ms_per_request']} ms,"
        f" load generator {s['client_cpu_ms_per_request']} ms ({os.cpu_count()} CPUs shared)"
    )
    c = result["contended_reserve"]
    print(
        f"  contended reserve ({CALLERS} callers, {CONTENDED_WORKSPACES} workspaces, release"
        f" after each grant): {c['throughput_rps']} reserves/s  p50 {c['p50_ms']} ms"
        f"  p99 {c['p99_ms']} ms  max {c['max_ms']} ms  statuses {c['statuses']}"
    )
    verdict = "met" if result["meets_target"] else "NOT met"
    print(f"  target: paced p99 < {TARGET_P99_MS:.0f} ms -> {verdict}")
    print(f"  written to {RESULTS / 'billing_gate.json'}")
    unexpected = set(statuses) - {201, 503}
    return 0 if not (paced_err or sat_err or unexpected) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
