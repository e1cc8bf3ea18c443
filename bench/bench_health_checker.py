"""health-checker: a connection-check run over 100,000 accounts on the 12 platforms.

Starts the platform simulator as its own process, mints real tokens for 100,000 accounts spread
evenly over the 12 platforms (its control API issues them without the consent flow), seals them
into the accounts table of a scratch database, and measures in one run:

- `checker`: the service's own check run, built by its composition root (`create_app`, nothing
  else started: no Kafka, no HTTP server): planned in SQL, batches claimed per platform under
  platform turns, accounts read and unsealed a batch at a time, verified through the adapters on
  the gated shared client, counted per batch. Limits high enough not to bind.
- `ceiling`: the same verify calls at the same concurrency (the same lanes per platform, all
  platforms at once) through the shared client on its default aiohttp transport with the
  adapters and no database. Measured before and after the checker; the better of the two is
  the ceiling. Target: checker >= 50% of the ceiling.
- `binding`: a second run over a smaller set (its own database) with limits that bind (a rate
  per platform), which should take as long as the limits say — accounts / rate of the slowest
  platform — and not longer; the simulator's calls over time show each platform's busiest second.

Writes bench/results/health_checker.json. Needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (or the
launcher's .run/infra.env); Kafka is not used. Exits non-zero only when checks fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from bench_simulator import free_port, start_simulator
from pydantic import SecretStr

from health_checker.config import PLATFORMS, Settings
from health_checker.domain.checks import CHECKED_STATUSES
from health_checker.main import CHECK_JOB, create_app
from mooring.accounts.model import Credentials
from mooring.db.migrate import upgrade
from mooring.platforms import TokenSet, get_adapter, new_http_client
from mooring.platforms.simulator import simulator_settings
from mooring.settings import DatabaseSettings
from mooring.testing import infra_settings, random_vault_settings, temporary_database
from mooring.vault import Vault, account_aad

RESULTS = (
    Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).resolve().parent / "results")
    / "health_checker.json"
)
ACCOUNTS = int(os.environ.get("BENCH_HC_ACCOUNTS", "100000"))
LANES = int(os.environ.get("BENCH_HC_LANES", "8"))  # concurrency per platform, both sides
BINDING_PER_PLATFORM = int(os.environ.get("BENCH_HC_BINDING_ACCOUNTS", "200"))
BINDING_RATE = float(os.environ.get("BENCH_HC_BINDING_RATE", "20"))  # per platform, per second
TARGET_RATIO = 0.5
BINDING_BURST = int(os.environ.get("BENCH_HC_BINDING_BURST", "2"))
BINDING_TOLERANCE = 0.15  # the bound run may take up to 15% longer than the limits say
INSTANCE = "mastodon.social"
SIM_PREFIX = {
    "linkedin": "linkedin",
    "linkedin-page": "linkedin",
    "x": "x",
    "facebook": "facebook",
    "instagram": "instagram",
    "instagram-facebook": "facebook",
    "tiktok": "tiktok",
    "youtube": "google",
    "threads": "threads",
    "pinterest": "pinterest",
    "bluesky": "bluesky",
    "mastodon": "mastodon",
}


def mint(sim: str, platform_id: str, count: int) -> list[TokenSet]:
    """`count` real token sets, one simulator grant each, without the consent flow."""
    body: dict[str, Any] = {"platform": platform_id, "user": f"bench-{platform_id}", "count": count}
    service_url = None
    if platform_id == "mastodon":
        body["instance"] = INSTANCE
        service_url = f"{sim}/mastodon/{INSTANCE}"
    elif platform_id == "bluesky":
        service_url = f"{sim}/bluesky"
    issued = httpx.post(f"{sim}/_control/tokens/issue", json=body, timeout=600).json()["tokens"]
    now = datetime.now(UTC)
    return [
        TokenSet(
            access_token=SecretStr(t.get("access_token") or t["accessJwt"]),
            refresh_token=SecretStr(r) if (r := t.get("refresh_token") or t.get("refreshJwt")) else None,
            issued_at=now,
            service_url=service_url,
        )
        for t in issued
    ]  # fmt: skip


def seed(database: DatabaseSettings, vault: Vault, tokens: dict[str, Sequence[TokenSet]]) -> int:
    """Accounts sealed exactly as the repository seals them, copied in bulk (setup only)."""
    rows = 0
    with psycopg.connect(database.libpq_url) as conn, conn.cursor() as cursor:
        with cursor.copy(
            "COPY accounts (id, workspace_id, platform, platform_account_id, credentials, "
            "service_url, token_issued_at) FROM STDIN"
        ) as copy:
            for platform_id, sets in tokens.items():
                for index, token_set in enumerate(sets):
                    account_id = uuid.uuid4()
                    credentials = Credentials(
                        access_token=token_set.access_token, refresh_token=token_set.refresh_token
                    )
                    sealed = vault.encrypt(credentials.to_plaintext(), aad=account_aad(account_id))
                    copy.write_row(
                        (
                            account_id,
                            uuid.uuid5(uuid.NAMESPACE_OID, f"ws-{rows // 10}"),
                            platform_id,
                            f"{platform_id}-{index}",
                            sealed,
                            token_set.service_url,
                            token_set.issued_at,
                        )
                    )
                    rows += 1
        conn.commit()
    return rows


def settings_for(database: DatabaseSettings, sim: str, limits: dict[str, Any]) -> Settings:
    return Settings(
        database=database.model_copy(update={"pool_size": 20}),
        vault=VAULT_SETTINGS,
        platforms=simulator_settings(sim),
        platform_limits=limits,
        migrate_on_start=False,
        relay_enabled=False,
        scheduler_enabled=False,
        check_window_s=3600,
    )


async def checker_run(settings: Settings) -> dict[str, Any]:
    """One check run through the service's own objects; seconds from plan to the last batch."""
    app = create_app(settings)
    runtime = app.state.runtime
    job = runtime.scheduler.jobs[CHECK_JOB].fn
    await app.state.platforms.open()
    try:
        cpu, planned_at = time.process_time(), time.perf_counter()
        async with runtime.unit_of_work() as uow:
            run, _ = await uow.checks.start_or_resume(
                window_s=settings.check_window_s,
                batch_size=settings.check_batch_size,
                statuses=CHECKED_STATUSES,
            )
            await uow.commit()
        started = time.perf_counter()
        summary = await job.follow(run)
        finished = time.perf_counter()
        cpu = time.process_time() - cpu
    finally:
        await runtime.stop()
    return {
        "accounts": summary.checked,
        "planned": summary.planned,
        "counts": dict(summary.counts),
        "completed": summary.finished,
        "plan_s": round(started - planned_at, 3),
        "seconds": round(finished - planned_at, 3),
        "accounts_per_s": round(summary.checked / (finished - planned_at), 1),
        "client_cpu_us_per_account": round(cpu / max(1, summary.checked) * 1e6, 1),
    }


async def ceiling_run(sim: str, tokens: dict[str, Sequence[TokenSet]]) -> dict[str, Any]:
    """The same verify calls at the same concurrency: adapters on the shared client, no database."""
    platforms = simulator_settings(sim)
    outcomes: Counter[str] = Counter()
    cpu, started = time.process_time(), time.perf_counter()
    async with new_http_client(platforms.http) as client:

        async def lane(adapter: Any, queue: list[TokenSet]) -> None:
            while queue:
                verdict = await adapter.verify(queue.pop())
                outcomes[verdict.outcome.value] += 1

        lanes = []
        for platform_id, sets in tokens.items():
            adapter = get_adapter(platform_id, platforms, client)
            queue = list(sets)
            lanes += [lane(adapter, queue) for _ in range(LANES)]
        await asyncio.gather(*lanes)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    total = sum(outcomes.values())
    return {
        "accounts": total,
        "counts": dict(outcomes),
        "seconds": round(seconds, 3),
        "accounts_per_s": round(total / seconds, 1),
        "client_cpu_us_per_account": round(cpu / max(1, total) * 1e6, 1),
    }


def timeline_figures(sim: str) -> dict[str, dict[str, float]]:
    """Per simulator prefix, from its calls over time (100 ms slots): the most calls in any
    one-second window, and the rate from its first call to its last."""
    out = {}
    timeline = httpx.get(f"{sim}/_control/calls/timeline?resolution_ms=100", timeout=30).json()
    for prefix, slots in timeline.items():
        per = {round(at * 10): calls for at, calls in slots}
        busiest = max(
            sum(per.get(s + i, 0) for i in range(10)) for s in range(min(per), max(per) + 1)
        )
        span = (max(per) - min(per) + 1) / 10
        out[prefix] = {"busiest_second": busiest, "rate_per_s": round(sum(per.values()) / span, 2)}
    return out


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


VAULT_SETTINGS = random_vault_settings()


async def main() -> int:  # noqa: PLR0915 - one linear benchmark script
    server, _ = infra_settings()
    port = free_port()
    sim_proc = start_simulator(port)
    sim = f"http://127.0.0.1:{port}"
    vault = Vault.from_settings(VAULT_SETTINGS)
    try:
        per_platform = ACCOUNTS // len(PLATFORMS)
        started = time.perf_counter()
        tokens = {p: mint(sim, p, per_platform + (1 if i < ACCOUNTS % 12 else 0))
                  for i, p in enumerate(PLATFORMS)}  # fmt: skip
        print(
            f"minted {sum(map(len, tokens.values()))} token sets in {time.perf_counter() - started:.1f} s"
        )
        free = {p: {"concurrency": LANES, "rate_per_s": 100_000.0} for p in PLATFORMS}

        with temporary_database(server, "bench_hc") as database:
            await asyncio.to_thread(upgrade, database)
            started = time.perf_counter()
            seeded = seed(database, vault, tokens)
            print(f"seeded {seeded} accounts in {time.perf_counter() - started:.1f} s")

            ceiling_before = await ceiling_run(sim, tokens)
            print(f"ceiling (before): {ceiling_before['accounts_per_s']:,.0f} accounts/s")
            sim_cpu = server_cpu(sim_proc.pid)
            checker = await checker_run(settings_for(database, sim, free))
            checker["server_cpu_us_per_account"] = round(
                (server_cpu(sim_proc.pid) - sim_cpu) / max(1, checker["accounts"]) * 1e6, 1
            )
            print(
                f"checker: {checker['accounts']:,} accounts in {checker['seconds']:.1f} s = "
                f"{checker['accounts_per_s']:,.0f} accounts/s (plan {checker['plan_s']:.2f} s)"
            )
            ceiling_after = await ceiling_run(sim, tokens)
            print(f"ceiling (after): {ceiling_after['accounts_per_s']:,.0f} accounts/s")

        ceiling = max(ceiling_before["accounts_per_s"], ceiling_after["accounts_per_s"])
        ratio = checker["accounts_per_s"] / ceiling

        subset = {p: sets[:BINDING_PER_PLATFORM] for p, sets in tokens.items()}
        # enough concurrency that the rate, not the lanes, is what binds
        bound = {
            p: {"concurrency": 8, "rate_per_s": BINDING_RATE, "burst": BINDING_BURST}
            for p in PLATFORMS
        }
        with temporary_database(server, "bench_hc_bound") as database:
            await asyncio.to_thread(upgrade, database)
            seed(database, vault, subset)
            await asyncio.to_thread(httpx.delete, f"{sim}/_control/calls", timeout=30)
            binding = await checker_run(settings_for(database, sim, bound))
        expected = BINDING_PER_PLATFORM / BINDING_RATE
        binding["expected_s"] = round(expected, 3)
        binding["ratio_to_expected"] = round(binding["seconds"] / expected, 3)
        binding["per_prefix"] = await asyncio.to_thread(timeline_figures, sim)
        binding["allowed_per_prefix"] = {
            prefix: BINDING_RATE * list(SIM_PREFIX.values()).count(prefix)
            for prefix in set(SIM_PREFIX.values())
        }
        print(
            f"binding: {binding['accounts']:,} accounts at {BINDING_RATE:g}/s per platform in "
            f"{binding['seconds']:.2f} s (limits say {expected:.2f} s: x{binding['ratio_to_expected']})"
        )
    finally:
        sim_proc.send_signal(signal.SIGTERM)
        try:
            sim_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim_proc.kill()

    result = {
        "benchmark": "health-checker connection check: 12 platforms, simulator, one process",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "accounts": ACCOUNTS,
        "lanes_per_platform": LANES,
        "checker": checker,
        "ceiling": {"before": ceiling_before, "after": ceiling_after, "accounts_per_s": ceiling},
        "ratios": {"checker_vs_ceiling": round(ratio, 3), "target": TARGET_RATIO},
        "binding": binding,
        "binding_tolerance": BINDING_TOLERANCE,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"checker {checker['accounts_per_s']:,.0f}/s = {ratio:.2f}x the ceiling "
        f"({ceiling:,.0f}/s); target >= {TARGET_RATIO}"
    )
    print(f"results in {RESULTS}")
    failed = checker["counts"].get("ok", 0) != checker["accounts"] or not binding["completed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
