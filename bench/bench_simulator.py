"""Refresh-token throughput of the platform simulator.

Starts the simulator as its own process on a free loopback port, issues one rotating token chain
per concurrent worker through the control API, then has every worker refresh its chain over and
over (each answer carries the next refresh token, as X and Pinterest really do). Two clients are
measured, because on a 2-core machine the Python client competes with the server for CPU:

- `httpx`: the client Mooring itself uses (httpx.AsyncClient), in several processes;
- `raw`: a minimal keep-alive HTTP/1.1 client on asyncio streams, so the number shows more of
  the server and less of the client.

Prints refreshes/s and p50/p99 latency and writes bench/results/simulator.json. Exits non-zero
only when requests fail, never for missing a target.
"""

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

RESULTS = (
    Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).parent / "results")
    / "simulator.json"
)
TARGET_PER_SECOND = 2000
ENDPOINTS = {
    "x": ("/x/2/oauth2/token", {"client_id": "sim-client"}),
    "pinterest": ("/pinterest/v5/oauth/token", {"continuous_refresh": "true"}),
    "tiktok": ("/tiktok/v2/oauth/token/", {"client_key": "sim-client", "client_secret": "s"}),
}
BASIC = "Basic c2ltLWNsaWVudDpz"  # sim-client:s — Pinterest wants HTTP Basic


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "platform_sim", "--port", str(port), "--log-level", "warning"],
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_control/health").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("simulator did not become healthy")


def _form(platform_name: str, refresh: str) -> dict[str, str]:
    _, extra = ENDPOINTS[platform_name]
    return {"grant_type": "refresh_token", "refresh_token": refresh, **extra}


def _headers(platform_name: str) -> dict[str, str]:
    return {"Authorization": BASIC} if platform_name == "pinterest" else {}


async def _httpx_chains(base: str, plat: str, chains: list[str], per_chain: int) -> dict[str, Any]:
    path, _ = ENDPOINTS[plat]
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=len(chains), max_keepalive_connections=len(chains))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def chain(refresh: str) -> None:
            nonlocal errors
            for _ in range(per_chain):
                started = time.perf_counter()
                response = await client.post(
                    path, data=_form(plat, refresh), headers=_headers(plat)
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1
                    return
                refresh = response.json()["refresh_token"]

        began = time.time()
        await asyncio.gather(*(chain(r) for r in chains))
        ended = time.time()
    return {"latencies": latencies, "errors": errors, "began": began, "ended": ended}


async def _raw_chains(port: int, plat: str, chains: list[str], per_chain: int) -> dict[str, Any]:
    path, _ = ENDPOINTS[plat]
    latencies: list[float] = []
    errors = 0
    extra_headers = "".join(f"{k}: {v}\r\n" for k, v in _headers(plat).items())

    async def chain(refresh: str) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(per_chain):
                body = urlencode(_form(plat, refresh)).encode()
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra_headers}"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                started = time.perf_counter()
                writer.write(head + body)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                payload = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if b" 200 " not in status_line:
                    errors += 1
                    return
                refresh = json.loads(payload)["refresh_token"]
        finally:
            writer.close()

    began = time.time()
    await asyncio.gather(*(chain(r) for r in chains))
    return {"latencies": latencies, "errors": errors, "began": began, "ended": time.time()}


def _worker(args: tuple[str, int, str, list[str], int, Any]) -> dict[str, Any]:
    client, port, plat, chains, per_chain, barrier = args
    barrier.wait()
    if client == "raw":
        return asyncio.run(_raw_chains(port, plat, chains, per_chain))
    return asyncio.run(_httpx_chains(f"http://127.0.0.1:{port}", plat, chains, per_chain))


def run(
    client: str, port: int, plat: str, requests: int, concurrency: int, procs: int
) -> dict[str, Any]:
    chains_total = concurrency * procs
    per_chain = max(1, requests // chains_total)
    issued = httpx.post(
        f"http://127.0.0.1:{port}/_control/tokens/issue",
        json={
            "platform": plat,
            "user": f"bench-{client}",
            "count": chains_total,
            "client_id": "sim-client",
        },
        timeout=60,
    ).json()["tokens"]
    refresh_tokens = [t["refresh_token"] for t in issued]
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(procs)
        jobs = [
            (
                client,
                port,
                plat,
                refresh_tokens[i * concurrency : (i + 1) * concurrency],
                per_chain,
                barrier,
            )
            for i in range(procs)
        ]
        with ctx.Pool(procs) as pool:
            parts = pool.map(_worker, jobs)
    latencies = sorted(x for p in parts for x in p["latencies"])
    errors = sum(p["errors"] for p in parts)
    elapsed = max(p["ended"] for p in parts) - min(p["began"] for p in parts)
    count = len(latencies)
    return {
        "client": client,
        "client_processes": procs,
        "concurrency_per_process": concurrency,
        "requests": count,
        "errors": errors,
        "elapsed_s": round(elapsed, 3),
        "refreshes_per_s": round(count / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(count * 0.99) - 1] * 1000, 2) if latencies else None,
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", choices=sorted(ENDPOINTS), default="x")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=25, help="per client process")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--clients", default="httpx,raw")
    args = parser.parse_args()
    port = free_port()
    server = start_simulator(port)
    results = []
    try:
        for client in args.clients.split(","):
            result = run(
                client, port, args.platform, args.requests, args.concurrency, args.processes
            )
            results.append(result)
            print(
                f"{client:>6}: {result['requests']} refreshes in {result['elapsed_s']} s = "
                f"{result['refreshes_per_s']}/s  p50 {result['p50_ms']} ms  "
                f"p99 {result['p99_ms']} ms  errors {result['errors']}"
            )
        calls = httpx.get(f"http://127.0.0.1:{port}/_control/calls").json()
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    best = max(r["refreshes_per_s"] for r in results)
    report = {
        "benchmark": "simulator token refresh",
        "platform": args.platform,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "target_refreshes_per_s": TARGET_PER_SECOND,
        "best_refreshes_per_s": best,
        "meets_target": best >= TARGET_PER_SECOND,
        "runs": results,
        "server_call_counts": calls,
        "note": (
            "Server and client processes share the machine's CPUs. httpx.AsyncClient costs "
            "about 2 ms of CPU per request here (measured sequentially), roughly ten times what "
            "the simulator spends, so the httpx run measures the client; the raw keep-alive "
            "client's figure is the one that shows the simulator's capacity."
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"best {best}/s (target {TARGET_PER_SECOND}/s); wrote {RESULTS}")
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
