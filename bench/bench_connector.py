"""Connector latency over real HTTP: connect starts and callbacks against real processes.

Starts the platform simulator, billing-gate and the connector (`python -m ...`, loopback, free
ports), in a database of its own and a scratch topic prefix, with 200 workspaces on the max plan.
The load generator speaks raw keep-alive HTTP/1.1 (httpx costs ~2 ms of CPU per request here,
which would make this a benchmark of the client). It measures, in one run:

- paced `POST /v1/workspaces/{ws}/connections` (X: PKCE, no platform call) at 100 starts/s
  offered by 50 callers. Latency runs from each request's *scheduled* send time, so a caller
  held up by a slow answer still counts the wait of the requests it should have sent meanwhile
  (no coordinated omission). A start is a JWT check, a rate-limit upsert, billing-gate's early
  decision over HTTP, and the session insert (state digest, sealed verifier);
- the same pacing, same run, against `GET /health/live` (the HTTP stack alone) and billing-gate's
  `GET .../decision` (the one remote call a start makes): the ratios say what a start costs
  beyond them;
- saturated starts (16 callers back to back, within the database pool and billing-gate's 0.5 s
  budget): the ceiling of one replica, and CPU per start;
- callbacks (`GET /v1/oauth/tiktok/callback`; TikTok because X's codes live 30 s and a prepared
  batch outlives that), paced and saturated, on sessions started and consented just before each
  run: consume the state, exchange the code and read the profile at the simulator, reserve at
  billing-gate, write the account and its event, confirm.

A 503 (billing-gate's answer not had within the client's 0.5 s budget, which happens when the
machine is saturated) is a correct answer and is counted apart; any other unexpected outcome
fails the run.

Target: p99 under 50 ms for a paced start at 100 starts/s. Writes bench/results/connector.json.
Needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (or the launcher's .run/infra.env). The per-
workspace start limit is raised for the run: the limit's statement still runs on every start.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import SecretStr

from mooring.platforms.simulator import simulator_environment
from mooring.service.auth import GatewayJwtSettings, issue_gateway_token
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import (
    delete_scratch_topics,
    infra_settings,
    scratch_topic_prefix,
    temporary_database,
)

RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).resolve().parent / "results")
CALLERS = 50
WORKSPACES = 200
OFFERED_RPS = float(os.environ.get("BENCH_CONNECTOR_RATE", "100"))
PACED_REQUESTS = int(os.environ.get("BENCH_CONNECTOR_PACED", "3000"))
SATURATED_REQUESTS = int(os.environ.get("BENCH_CONNECTOR_SATURATED", "3000"))
SATURATED_CALLERS = 16
CALLBACK_CALLERS = 16
CALLBACK_RPS = float(os.environ.get("BENCH_CONNECTOR_CALLBACK_RATE", "20"))
CALLBACKS_PACED = int(os.environ.get("BENCH_CONNECTOR_CALLBACKS_PACED", "400"))
CALLBACKS_SATURATED = int(os.environ.get("BENCH_CONNECTOR_CALLBACKS_SATURATED", "800"))
TARGET_P99_MS = 50.0
REDIRECT = "http://127.0.0.1:3999/landing"
START_BODY = {"platform": "x", "redirect_url": REDIRECT}
CALLBACK_PLATFORM = "tiktok"


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


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for these requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        target: str,
        *,
        token: str | None = None,
        body: Mapping[str, object] | None = None,
    ) -> Answer:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None  # noqa: S101 - opened together
        payload = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if token is not None:
            head += f"Authorization: Bearer {token}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self.writer.write((head + "\r\n").encode() + payload)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        content = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(int(lines[0].split(" ", 2)[1]), headers, content)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
        self.writer = self.reader = None


# A call answers what it got (the status, or a failed callback's error code) and whether that is
# the expected outcome.
Call = Callable[[Connection, random.Random], Awaitable[tuple[str, bool]]]
OUTCOMES: dict[str, dict[str, int]] = {}


async def load(
    port: int, call: Call, *, total: int, callers: int, rate: float | None, label: str = ""
) -> tuple[list[float], float, int]:
    """`total` calls from `callers` keep-alive connections; paced at `rate` in all when set
    (latency from the scheduled send time), back to back otherwise."""
    latencies: list[float] = []
    errors = 0
    remaining = total
    outcomes = OUTCOMES.setdefault(label, {})

    async def caller(n: int) -> None:
        nonlocal remaining, errors
        rng = random.Random(n)
        conn = Connection(port)
        interval = callers / rate if rate else 0.0
        next_at = time.perf_counter() + rng.random() * interval
        try:
            while remaining > 0:
                remaining -= 1
                if interval:
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                    started = next_at  # a late send is part of the wait
                    next_at += interval
                else:
                    started = time.perf_counter()
                outcome, ok = await call(conn, rng)
                latencies.append(time.perf_counter() - started)
                errors += 0 if ok else 1
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        finally:
            await conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(callers)))
    return latencies, time.perf_counter() - began, errors


@dataclass
class Process:
    name: str
    proc: asyncio.subprocess.Process
    port: int


async def spawn(
    name: str, args: list[str], env: dict[str, str], log: IO[bytes], port: int, health: str
) -> Process:
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=log
    )
    conn = Connection(port)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.returncode is None:
            try:
                if (await conn.request("GET", health)).status == 200:
                    return Process(name, proc, port)
            except OSError:
                await conn.close()
            except asyncio.IncompleteReadError:
                await conn.close()
            await asyncio.sleep(0.3)
    finally:
        await conn.close()
    raise RuntimeError(f"{name} did not become ready")


async def stop(process: Process) -> None:
    if process.proc.returncode is None:
        process.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.proc.wait(), 15)
        except TimeoutError:
            process.proc.kill()
            await process.proc.wait()


async def spawn_logged(
    name: str, module_args: list[str], env: dict[str, str], logs: Path, port: int
) -> Process:
    """`python -m <module_args>` with its output in `<logs>/<name>.log`, once it is healthy."""
    health = "/_control/health" if name == "platform-sim" else "/health/ready"
    with (logs / f"{name}.log").open("wb") as log:
        return await spawn(name, [sys.executable, "-m", *module_args], env, log, port, health)


@dataclass
class Setup:
    connector: int
    billing: int
    sim: int
    tokens: dict[uuid.UUID, str]
    service_token: str
    connector_pid: int

    @property
    def workspaces(self) -> list[uuid.UUID]:
        return list(self.tokens)


def start_call(setup: Setup) -> Call:
    async def call(conn: Connection, rng: random.Random) -> tuple[str, bool]:
        ws = rng.choice(setup.workspaces)
        answer = await conn.request(
            "POST", f"/v1/workspaces/{ws}/connections", token=setup.tokens[ws], body=START_BODY
        )
        return str(answer.status), answer.status == 201

    return call


async def prepared_callbacks(setup: Setup, n: int) -> list[str]:
    """`n` callback targets: sessions started at the connector and approved at the simulator,
    each by a user of its own (so every callback creates an account)."""
    targets: list[str] = []
    connector, sim = Connection(setup.connector), Connection(setup.sim)
    try:
        for i in range(n):
            ws = setup.workspaces[i % len(setup.workspaces)]
            started = await connector.request(
                "POST",
                f"/v1/workspaces/{ws}/connections",
                token=setup.tokens[ws],
                body={"platform": CALLBACK_PLATFORM, "redirect_url": REDIRECT},
            )
            if started.status != 201:
                raise RuntimeError(f"start answered {started.status}: {started.body[:200]!r}")
            url = urlsplit(json.loads(started.body)["authorization_url"])
            consent = urlencode({"sim_user": f"bench{i}-{uuid.uuid4().hex[:6]}",
                                 "sim_decision": "approve"})  # fmt: skip
            answer = await sim.request("GET", f"{url.path}?{url.query}&{consent}")
            location = urlsplit(answer.headers["location"])
            targets.append(f"{location.path}?{location.query}")
    finally:
        await connector.close()
        await sim.close()
    return targets


def callback_call(targets: list[str]) -> Call:
    async def call(conn: Connection, _: random.Random) -> tuple[str, bool]:
        answer = await conn.request("GET", targets.pop())
        landing = dict(parse_qsl(urlsplit(answer.headers.get("location", "")).query))
        # A failed callback is a 303 too: count it by its error code.
        ok = answer.status == 303 and "connected" in landing
        return ("connected" if ok else landing.get("error", str(answer.status))), ok

    return call


async def main() -> int:
    server, kafka = infra_settings()
    prefix = scratch_topic_prefix("bench-connector")
    with (
        tempfile.TemporaryDirectory() as tmp,
        temporary_database(server, "mooring_bench") as database,
    ):
        logs = Path(tmp)
        try:
            return await bench(logs, database, kafka, prefix)
        except Exception:
            for log in sorted(logs.glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"{log.name} (last lines):", *tail, sep="\n  ")
            raise
        finally:
            await delete_scratch_topics(kafka.bootstrap_servers)


async def bench(logs: Path, database: DatabaseSettings, kafka: KafkaSettings, prefix: str) -> int:
    sim_port, billing_port, connector_port = free_port(), free_port(), free_port()
    gateway_secret, service_token = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    env = dict(os.environ) | {
        "DATABASE_URL": database.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": prefix,
        "MOORING_GATEWAY_JWT_SECRET": gateway_secret,
        "MOORING_VAULT_KEYS": f"b1:{base64.b64encode(os.urandom(32)).decode()}",
        "BILLING_GATE_HTTP_PORT": str(billing_port),
        "BILLING_GATE_SERVICE_TOKENS": service_token,
        "BILLING_GATE_LOG_LEVEL": "WARNING",
        "CONNECTOR_HTTP_PORT": str(connector_port),
        "CONNECTOR_PUBLIC_URL": f"http://127.0.0.1:{connector_port}",
        "CONNECTOR_LOG_LEVEL": "WARNING",
        "CONNECTOR_CONNECT_RATE_LIMIT": "1000000",
        "MOORING_BILLING_BASE_URL": f"http://127.0.0.1:{billing_port}",
        "MOORING_BILLING_SERVICE_TOKEN": service_token,
        **simulator_environment(f"http://127.0.0.1:{sim_port}"),
    }
    started: list[Process] = []
    sim_args = ["platform_sim", "--port", str(sim_port), "--log-level", "warning"]
    try:
        started.append(await spawn_logged("platform-sim", sim_args, env, logs, sim_port))
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mooring.db.migrate", "upgrade", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        if await migrate.wait() != 0:
            raise RuntimeError("migrations failed")
        started.append(
            await spawn_logged("billing-gate", ["billing_gate"], env, logs, billing_port)
        )
        started.append(await spawn_logged("connector", ["connector"], env, logs, connector_port))
        gateway = GatewayJwtSettings(secret=SecretStr(gateway_secret))
        tokens = {
            ws: issue_gateway_token(gateway, user_id="bench", workspace_id=ws, role="owner")
            for ws in (uuid.uuid4() for _ in range(WORKSPACES))
        }
        setup = Setup(connector_port, billing_port, sim_port, tokens, service_token,
                      started[-1].proc.pid)  # fmt: skip
        return await measure(setup)
    finally:
        for process in reversed(started):
            await stop(process)


async def measure(setup: Setup) -> int:
    billing = Connection(setup.billing)
    for ws in setup.workspaces:  # room for every account the callbacks make
        answer = await billing.request(
            "PUT", f"/internal/v1/workspaces/{ws}/plan", token=setup.service_token,
            body={"plan": "max"},
        )  # fmt: skip
        if answer.status != 200:
            raise RuntimeError(f"plan change answered {answer.status}")
    await billing.close()

    async def live(conn: Connection, _: random.Random) -> tuple[str, bool]:
        status = (await conn.request("GET", "/health/live")).status
        return str(status), status == 200

    async def decision(conn: Connection, rng: random.Random) -> tuple[str, bool]:
        ws = rng.choice(setup.workspaces)
        answer = await conn.request(
            "GET", f"/internal/v1/workspaces/{ws}/decision", token=setup.service_token
        )
        return str(answer.status), answer.status == 200

    start = start_call(setup)
    await load(setup.connector, start, total=500, callers=CALLERS, rate=None)  # warm-up

    # The same pacing for all three, interleaved per round: a noisy neighbour on the shared
    # machine then hits them alike, and the ratios compare like with like.
    rounds = 3
    paced: dict[str, tuple[list[float], float, int]] = {k: ([], 0.0, 0) for k in
                                                        ("start", "live", "decision")}  # fmt: skip
    for _ in range(rounds):
        for name, port, call in (
            ("start", setup.connector, start),
            ("live", setup.connector, live),
            ("decision", setup.billing, decision),
        ):
            lat, elapsed, errors = await load(
                port, call, total=PACED_REQUESTS // rounds, callers=CALLERS, rate=OFFERED_RPS,
                label=f"paced_{name}",
            )  # fmt: skip
            before = paced[name]
            paced[name] = (before[0] + lat, before[1] + elapsed, before[2] + errors)

    cpu_before, client_before = cpu_seconds(setup.connector_pid), time.process_time()
    saturated, sat_s, sat_err = await load(
        setup.connector, start, total=SATURATED_REQUESTS, callers=SATURATED_CALLERS, rate=None,
        label="saturated_start",
    )  # fmt: skip
    server_cpu = cpu_seconds(setup.connector_pid) - cpu_before
    client_cpu = time.process_time() - client_before

    targets = await prepared_callbacks(setup, CALLBACKS_PACED)
    cb_paced, cb_paced_s, cb_paced_err = await load(
        setup.connector, callback_call(targets), total=CALLBACKS_PACED,
        callers=CALLBACK_CALLERS, rate=CALLBACK_RPS, label="paced_callback",
    )  # fmt: skip
    targets = await prepared_callbacks(setup, CALLBACKS_SATURATED)
    cpu_before = cpu_seconds(setup.connector_pid)
    cb_sat, cb_sat_s, cb_sat_err = await load(
        setup.connector, callback_call(targets), total=CALLBACKS_SATURATED,
        callers=CALLBACK_CALLERS, rate=None, label="saturated_callback",
    )  # fmt: skip
    callback_cpu = cpu_seconds(setup.connector_pid) - cpu_before

    start_p = summary(*paced["start"][:2]) | {"errors": paced["start"][2]}
    live_p = summary(*paced["live"][:2]) | {"errors": paced["live"][2]}
    decision_p = summary(*paced["decision"][:2]) | {"errors": paced["decision"][2]}
    result = {
        "benchmark": "connector",
        "target_p99_ms": TARGET_P99_MS,
        "offered_rps": OFFERED_RPS,
        "callers": CALLERS,
        "paced_start": start_p,
        "paced_health_live": live_p,
        "paced_billing_decision": decision_p,
        "ratios": {
            "start_p50_over_billing_decision_p50": round(
                start_p["p50_ms"] / decision_p["p50_ms"], 2
            ),
            "start_p99_over_billing_decision_p99": round(
                start_p["p99_ms"] / decision_p["p99_ms"], 2
            ),
            "start_p50_over_health_live_p50": round(start_p["p50_ms"] / live_p["p50_ms"], 2),
            "callback_over_start_server_cpu": round(
                (callback_cpu / len(cb_sat)) / (server_cpu / len(saturated)), 2
            ),
        },
        "saturated_start": summary(saturated, sat_s)
        | {
            "callers": SATURATED_CALLERS,
            "errors": sat_err,
            "server_cpu_ms_per_request": round(server_cpu / len(saturated) * 1000, 2),
            "client_cpu_ms_per_request": round(client_cpu / len(saturated) * 1000, 2),
        },
        "paced_callback": summary(cb_paced, cb_paced_s)
        | {"offered_rps": CALLBACK_RPS, "callers": CALLBACK_CALLERS, "errors": cb_paced_err},
        "saturated_callback": summary(cb_sat, cb_sat_s)
        | {
            "callers": CALLBACK_CALLERS,
            "errors": cb_sat_err,
            "server_cpu_ms_per_request": round(callback_cpu / len(cb_sat) * 1000, 2),
        },
        "outcomes": OUTCOMES,
        "workspaces": WORKSPACES,
        "cpus": os.cpu_count(),
    }
    result["meets_target"] = start_p["p99_ms"] < TARGET_P99_MS and not start_p["errors"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "connector.json").write_text(json.dumps(result, indent=2) + "\n")
    report(result)
    expected = {"201", "200", "connected", "503", "billing_unavailable"}
    unexpected = {k for run in OUTCOMES.values() for k in run} - expected
    if unexpected:
        print(f"  unexpected outcomes: {sorted(unexpected)}")
    return 1 if unexpected else 0


def report(result: dict[str, object]) -> None:
    def line(label: str, s: object) -> str:
        assert isinstance(s, dict)  # noqa: S101 - built above
        return (
            f"  {label}: p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms  max {s['max_ms']} ms  "
            f"{s['throughput_rps']}/s  ({s['requests']} requests, {s.get('errors', 0)} errors)"
        )

    print(f"connector over HTTP (loopback, one process each; {os.cpu_count()} CPUs shared)")
    print(f"paced at {result['offered_rps']:.0f}/s, {CALLERS} callers, from the scheduled send:")
    print(line("connect start           ", result["paced_start"]))
    print(line("GET /health/live        ", result["paced_health_live"]))
    print(line("billing-gate decision   ", result["paced_billing_decision"]))
    print(line("saturated start         ", result["saturated_start"]))
    sat = result["saturated_start"]
    assert isinstance(sat, dict)  # noqa: S101
    print(
        f"    CPU per start: connector {sat['server_cpu_ms_per_request']} ms,"
        f" load generator {sat['client_cpu_ms_per_request']} ms"
    )
    print(line(f"callback, paced {CALLBACK_RPS:.0f}/s  ", result["paced_callback"]))
    print(line("callback, saturated     ", result["saturated_callback"]))
    print(f"  ratios: {result['ratios']}")
    print(f"  outcomes: {result['outcomes']}")
    verdict = "met" if result["meets_target"] else "NOT met"
    print(f"  target: paced start p99 < {TARGET_P99_MS:.0f} ms -> {verdict}")
    print(f"  written to {RESULTS / 'connector.json'}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
