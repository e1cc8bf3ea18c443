"""Every platform answering 5xx for the length of a connection check and a refresh sweep: no
account is disconnected or changes status, nobody is told anything; once the platforms are back,
the next check finds every account working and every due token is refreshed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.platforms.registry import get_description
from platform_sim.platforms import PREFIXES
from tests.system import System

from .accounts import mint, seed, system_vault
from .helpers import scalar, wait_until

# Platforms whose tokens the simulator mints straight away (a Bluesky or Mastodon account
# needs an account or an app registered first); all of them refresh but Facebook, which gets
# reconnect reminders instead. Instagram and Threads extend a token only once it is a day old
# by the simulator's clock, which a token minted now is not: they are checked, not refreshed.
PLATFORMS = ("x", "linkedin", "tiktok", "youtube", "pinterest", "instagram", "threads", "facebook")
PER_PLATFORM = 3
REFRESHED = {"x", "linkedin", "tiktok", "youtube", "pinterest"}
# The checks keep each platform's real rate (X: 1 request/s); an outage costs every check its
# retries, so the on-demand runs here are given room.
ROOMY_LIMITS = json.dumps(
    {p: {"concurrency": 10, "rate_per_s": 50, "burst": 5} for p in ("x", "youtube")}
)


async def run_job(system: System, package: str, job: str, **env: str) -> str:
    """`python -m <package> job <job>` with the system's environment; its output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        package,
        "job",
        job,
        env=system.env | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode(errors="replace")
    assert process.returncode == 0, f"{package} job {job} exited {process.returncode}:\n{text}"
    return text


async def latest_check(system: System) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{system.urls['health_checker']}/internal/v1/check-runs/latest",
            headers={"Authorization": f"Bearer {system.service_token}"},
        )
    response.raise_for_status()
    run: dict[str, Any] = response.json()
    return run


async def check_connections(system: System) -> dict[str, Any]:
    await run_job(
        system,
        "health_checker",
        "social:check-connections",
        HEALTH_CHECKER_PLATFORM_LIMITS=ROOMY_LIMITS,
    )
    run = await latest_check(system)
    assert run["status"] == "completed"
    return run


async def control(system: System, method: str, path: str, body: object = None) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.request(method, f"{system.urls['sim']}/_control{path}", json=body)
    response.raise_for_status()
    return response.json()


@pytest.mark.timeout(300)
async def test_a_platform_outage_disconnects_nobody_and_everything_recovers_after_it(
    system: System, failure_engine: AsyncEngine
) -> None:
    vault = system_vault(system)
    ids: dict[str, list[uuid.UUID]] = {}
    for platform in PLATFORMS:
        scopes = list(get_description(platform).scopes)
        tokens = await mint(
            system.urls["sim"], platform, PER_PLATFORM, user=f"outage-{platform}", scopes=scopes
        )
        # Expiring in 10 minutes: due for a refresh at the next sweep.
        ids[platform] = await seed(
            failure_engine,
            vault,
            platform,
            tokens,
            expires_in=timedelta(minutes=10),
            issued_ago=timedelta(hours=1),
            scopes=tuple(scopes),
        )
    everyone = [i for group in ids.values() for i in group]
    due = [i for p in REFRESHED for i in ids[p]]

    # Before: every account checks out with its platform.
    run = await check_connections(system)
    assert run["counts"] == {"ok": len(everyone)}, run

    # Every platform the simulator serves answers 503 (with a Retry-After the clients honour).
    for prefix in PREFIXES:
        await control(
            system, "POST", "/faults", {"platform": prefix, "status": 503, "retry_after": 1}
        )
    try:
        run = await check_connections(system)
        assert run["counts"] == {"transient": len(everyone)}, run
        await run_job(system, "token_keeper", "social:refresh-expiring-tokens")

        async def every_refresh_failed() -> bool:
            failed = await scalar(
                failure_engine,
                "SELECT count(*) FROM accounts WHERE id = ANY(:ids) "
                "AND last_failure LIKE 'transient:%'",
                ids=due,
            )
            return int(failed) == len(due)

        await wait_until(every_refresh_failed, timeout_s=60, what="every due refresh tried")
    finally:
        await control(system, "DELETE", "/faults")

    # Nobody was disconnected, no status changed, no event said otherwise, nobody was told.
    untouched = await scalar(
        failure_engine,
        "SELECT count(*) FROM accounts WHERE id = ANY(:ids) AND status = 'connected' "
        "AND auth_failures = 0",
        ids=everyone,
    )
    assert untouched == len(everyone)
    reported = await scalar(
        failure_engine,
        "SELECT count(*) FROM outbox WHERE key = ANY(:keys) "
        "AND (topic LIKE '%account.disconnected' OR topic LIKE '%account.updated')",
        keys=[str(i) for i in everyone],
    )
    assert reported == 0
    told = await scalar(
        failure_engine,
        "SELECT count(*) FROM notifier_notifications WHERE account_id = ANY(:ids) "
        "AND kind <> 'reconnect_reminder'",  # Facebook cannot refresh: reminded, by design
        ids=everyone,
    )
    assert told == 0

    # After: the check finds every account working, and the retry sweep refreshes every token
    # that could not be refreshed during the outage.
    run = await check_connections(system)
    assert run["counts"] == {"ok": len(everyone)}, run
    await run_job(system, "token_keeper", "social:retry-failed-refreshes")

    async def every_token_refreshed() -> bool:
        refreshed = await scalar(
            failure_engine,
            "SELECT count(*) FROM accounts WHERE id = ANY(:ids) AND refreshed_at IS NOT NULL "
            "AND last_failure IS NULL AND status = 'connected'",
            ids=due,
        )
        return int(refreshed) == len(due)

    try:
        await wait_until(every_token_refreshed, timeout_s=60, what="every due token refreshed")
    except TimeoutError:
        raise AssertionError(await accounts_now(failure_engine, due)) from None


async def accounts_now(engine: AsyncEngine, ids: list[uuid.UUID]) -> str:
    """What the accounts look like, for a failure message."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT platform, status, last_failure, refresh_failures, next_refresh_at, "
                "refreshed_at, token_expires_at FROM accounts WHERE id = ANY(:ids) "
                "ORDER BY platform"
            ),
            {"ids": ids},
        )
        return "\n".join(str(tuple(row)) for row in rows)
