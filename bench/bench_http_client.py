"""What one call to a platform costs in the HTTP client, by transport.

Starts the simulator as its own process, issues one rotating X refresh-token chain per concurrent
caller, and has every caller refresh its chain over and over (each answer carries the next
refresh token) with, in turn, at the same concurrency and in one client process each:

- `raw`: a minimal keep-alive HTTP/1.1 client on asyncio streams (the floor);
- `httpx`: the shared client (`new_http_client`) on httpx's own transport (httpcore);
- `aiohttp`: the same client on the httpx-aiohttp transport;
- `adapter-httpx`, `adapter-aiohttp`: the whole adapter path, `XAdapter.refresh` (Authlib's
  request building, `PlatformHttp`, the stamina retry policy, classification, `TokenSet`), on
  each of the two clients.

Then one round at concurrency 1, where no pool is busy: the constant cost of each call.

Every request has the same shape (form body, HTTP Basic client authentication). The machine is
shared and noisy, so the variants alternate over several rounds and the medians are compared as
ratios measured in the same run. CPU per call is the client process's CPU time over its calls;
the simulator's own CPU per call is read from /proc. Writes bench/results/http_client.json; exits
non-zero only when requests fail.
"""

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import platform
import signal
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from bench_simulator import free_port, start_simulator
from pydantic import SecretStr

from mooring.platforms import TokenSet, get_adapter, new_http_client
from mooring.platforms.settings import HttpSettings
from mooring.platforms.simulator import simulator_settings

RESULTS = (
    Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).parent / "results")
    / "http_client.json"
)
VARIANTS = ["raw", "httpx", "aiohttp", "adapter-httpx", "adapter-aiohttp"]
CLIENT_ID, CLIENT_SECRET = "mooring-dev", "mooring-dev-secret"  # simulator_settings' defaults
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
PATH = "/x/2/oauth2/token"
FORM_HEADERS = {
    "Authorization": BASIC,
    "Accept": "application/json",
    "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
}


def _form(refresh: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh}


async def _raw(port: int, chains: list[str], per_chain: int, latencies: list[float]) -> int:
    errors = 0
    headers = "".join(f"{k}: {v}\r\n" for k, v in FORM_HEADERS.items())

    async def chain(refresh: str) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(per_chain):
                body = urlencode(_form(refresh)).encode()
                head = (
                    f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
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
            await writer.wait_closed()

    await asyncio.gather(*(chain(r) for r in chains))
    return errors


async def _client(
    transport: str, port: int, chains: list[str], per_chain: int, latencies: list[float]
) -> int:
    errors = 0
    settings = HttpSettings(transport=transport, max_connections=len(chains))  # type: ignore[arg-type]
    async with new_http_client(settings) as client:

        async def chain(refresh: str) -> None:
            nonlocal errors
            for _ in range(per_chain):
                started = time.perf_counter()
                response = await client.post(
                    f"http://127.0.0.1:{port}{PATH}", data=_form(refresh), headers=FORM_HEADERS
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code != httpx.codes.OK:
                    errors += 1
                    return
                refresh = response.json()["refresh_token"]

        await asyncio.gather(*(chain(r) for r in chains))
    return errors


async def _adapter(
    transport: str, port: int, chains: list[str], per_chain: int, latencies: list[float]
) -> int:
    errors = 0
    settings = simulator_settings(f"http://127.0.0.1:{port}")
    http = settings.http.model_copy(update={"transport": transport, "max_connections": len(chains)})
    async with new_http_client(http) as client:
        adapter = get_adapter("x", settings, client)

        async def chain(refresh: str) -> None:
            nonlocal errors
            tokens = TokenSet(
                access_token=SecretStr("unused"),
                refresh_token=SecretStr(refresh),
                issued_at=datetime.now(UTC),
            )
            for _ in range(per_chain):
                started = time.perf_counter()
                try:
                    tokens = await adapter.refresh(tokens)
                except Exception:  # noqa: BLE001 - a benchmark counts failures, whatever they are
                    errors += 1
                    return
                finally:
                    latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(chain(r) for r in chains))
    return errors


def _worker(args: tuple[str, int, list[str], int]) -> dict[str, Any]:
    variant, port, chains, per_chain = args
    latencies: list[float] = []
    if variant == "raw":
        job = _raw(port, chains, per_chain, latencies)
    elif variant.startswith("adapter-"):
        job = _adapter(variant.removeprefix("adapter-"), port, chains, per_chain, latencies)
    else:
        job = _client(variant, port, chains, per_chain, latencies)
    cpu, wall = time.process_time(), time.perf_counter()
    errors = asyncio.run(job)
    return {
        "latencies": latencies,
        "errors": errors,
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
    }


def _server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_once(variant: str, port: int, server_pid: int, requests: int, concurrency: int) -> dict:
    per_chain = max(1, requests // concurrency)
    issued = httpx.post(
        f"http://127.0.0.1:{port}/_control/tokens/issue",
        json={"platform": "x", "user": "bench-http", "count": concurrency, "client_id": CLIENT_ID},
        timeout=60,
    ).json()["tokens"]
    chains = [token["refresh_token"] for token in issued]
    server_before = _server_cpu(server_pid)
    with mp.get_context("spawn").Pool(1) as pool:
        part = pool.apply(_worker, ((variant, port, chains, per_chain),))
    server_cpu = _server_cpu(server_pid) - server_before
    latencies = sorted(part["latencies"])
    count = len(latencies)
    return {
        "variant": variant,
        "requests": count,
        "errors": part["errors"],
        "refreshes_per_s": count / part["wall_s"],
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(count * 0.99) - 1)] * 1000,
        "client_cpu_us_per_call": part["cpu_s"] / count * 1e6,
        "server_cpu_us_per_call": server_cpu / count * 1e6,
    }


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def summarise(rounds: list[list[dict]]) -> dict[str, dict[str, float]]:
    keys = [
        "refreshes_per_s",
        "p50_ms",
        "p99_ms",
        "client_cpu_us_per_call",
        "server_cpu_us_per_call",
    ]
    by_variant = {
        variant: [run for runs in rounds for run in runs if run["variant"] == variant]
        for variant in VARIANTS
    }
    return {
        variant: {key: round(_median(runs, key), 2) for key in keys}
        for variant, runs in by_variant.items()
    }


def ratios(summary: dict[str, dict[str, float]]) -> dict[str, float]:
    def rate(a: str, b: str) -> float:
        return round(summary[a]["refreshes_per_s"] / summary[b]["refreshes_per_s"], 3)

    def cpu(a: str, b: str) -> float:
        return round(summary[a]["client_cpu_us_per_call"] / summary[b]["client_cpu_us_per_call"], 3)

    return {
        "httpx_rate_vs_raw": rate("httpx", "raw"),
        "aiohttp_rate_vs_raw": rate("aiohttp", "raw"),
        "aiohttp_rate_vs_httpx": rate("aiohttp", "httpx"),
        "adapter_aiohttp_rate_vs_adapter_httpx": rate("adapter-aiohttp", "adapter-httpx"),
        "adapter_httpx_rate_vs_httpx": rate("adapter-httpx", "httpx"),
        "adapter_aiohttp_rate_vs_aiohttp": rate("adapter-aiohttp", "aiohttp"),
        "httpx_cpu_vs_raw": cpu("httpx", "raw"),
        "aiohttp_cpu_vs_raw": cpu("aiohttp", "raw"),
        "aiohttp_cpu_vs_httpx": cpu("aiohttp", "httpx"),
        "adapter_aiohttp_cpu_vs_adapter_httpx": cpu("adapter-aiohttp", "adapter-httpx"),
    }


def measure(port: int, server_pid: int, rounds: int, requests: int, concurrency: int) -> list:
    measured: list[list[dict]] = []
    for number in range(rounds):
        # Rotate the order, so no variant always runs first or right after another.
        order = VARIANTS[number % len(VARIANTS) :] + VARIANTS[: number % len(VARIANTS)]
        runs = []
        for variant in order:
            run = run_once(variant, port, server_pid, requests, concurrency)
            runs.append(run)
            print(
                f"c={concurrency} round {number + 1} {variant:>15}: "
                f"{run['refreshes_per_s']:8.0f}/s  "
                f"p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:7.2f} ms  "
                f"client {run['client_cpu_us_per_call']:6.0f} us/call  "
                f"server {run['server_cpu_us_per_call']:5.0f} us/call  "
                f"errors {run['errors']}",
                flush=True,
            )
        measured.append(runs)
    return measured


def _rounded(rounds: list[list[dict]]) -> list[dict]:
    return [
        {k: round(v, 2) if isinstance(v, float) else v for k, v in run.items()}
        for runs in rounds
        for run in runs
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5_000, help="per variant and round")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--sequential-requests",
        type=int,
        default=1_000,
        help="one more round at concurrency 1: the cost per call without a busy pool (0: skip)",
    )
    args = parser.parse_args()
    port = free_port()
    server = start_simulator(port)
    try:
        rounds = measure(port, server.pid, args.rounds, args.requests, args.concurrency)
        sequential = (
            measure(port, server.pid, 1, args.sequential_requests, 1)
            if args.sequential_requests
            else []
        )
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    summary = summarise(rounds)
    compared = ratios(summary)
    print(f"\nconcurrency {args.concurrency}, medians of {args.rounds} rounds:")
    for variant, figures in summary.items():
        print(f"  {variant:>15}: {json.dumps(figures)}")
    print("ratios:", json.dumps(compared, indent=2))
    report: dict[str, Any] = {
        "benchmark": "HTTP client cost per platform call (X rotating refresh, simulator)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "concurrency": args.concurrency,
        "requests_per_variant_and_round": args.requests,
        "rounds": args.rounds,
        "medians": summary,
        "ratios": compared,
        "runs": _rounded(rounds),
        "note": (
            "One client process per run, the simulator in another, on the same machine. "
            "client_cpu_us_per_call is the client process's CPU time divided by its calls; "
            "compare ratios measured in the same run, not absolute figures."
        ),
    }
    if sequential:
        seq_summary = summarise(sequential)
        seq_ratios = ratios(seq_summary)
        print("\nconcurrency 1:")
        for variant, figures in seq_summary.items():
            print(f"  {variant:>15}: {json.dumps(figures)}")
        print("ratios:", json.dumps(seq_ratios, indent=2))
        report["sequential"] = {
            "concurrency": 1,
            "requests_per_variant": args.sequential_requests,
            "figures": seq_summary,
            "ratios": seq_ratios,
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    failed = any(run["errors"] for runs in rounds + sequential for run in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
