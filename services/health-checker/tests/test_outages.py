"""A platform outage during a check changes nothing: 5xx, 429 with Retry-After, hangs, on the
verify and on the refresh after an auth failure. No status moves, no event is published."""

from __future__ import annotations

import pytest

from health_checker.main import CHECK_JOB

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.usefixtures("clean")]


async def accounts_unchanged(service, before) -> None:
    for account in before:
        after = await service.account(account.id)
        assert (after.status, after.auth_failures, after.version) == (
            account.status,
            account.auth_failures,
            account.version,
        ), account.platform


async def no_incident(service, accounts) -> None:
    ids = {str(a.id) for a in accounts}
    for event_type in ("account.disconnected", "account.updated"):
        events = await service.events(event_type, until=lambda _: True, timeout_s=3)
        assert [e for e in events if e["account_id"] in ids] == [], event_type


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("error", {"status": 503}),
        ("error", {"status": 500}),
        ("rate_limit", {"retry_after": 1}),
        ("hang", {"seconds": 5}),
    ],
    ids=["503", "500", "429", "hang"],
)
async def test_an_outage_on_verify_disconnects_nobody(
    kind, options, sim, make_settings, start
) -> None:
    async with start(make_settings()) as service:
        connected = [await service.add("x", t) for t in sim.mint("x", "outage-ok", 3)]
        expired = [
            await service.add("x", t, status="token_expired", auth_failures=1)
            for t in sim.mint("x", "outage-dead", 2)
        ]
        sim.revoke("x", "outage-dead")  # these would be disconnected if the platform answered
        sim.fault("x", kind, path="/2/users/me", **options)

        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        run = (await service.http.get("/internal/v1/check-runs/latest")).json()
        assert run["status"] == "completed"
        assert run["counts"] == {"transient": 5}
        await accounts_unchanged(service, connected + expired)
        await no_incident(service, connected + expired)


async def test_an_outage_on_the_refresh_after_an_auth_failure_changes_nothing(
    sim, make_settings, start
) -> None:
    tokens = await sim.connect("tiktok", "refresh-outage")
    async with start(make_settings()) as service:
        account = await service.add("tiktok", tokens)
        sim.expire_access(tokens.access_token)  # verify says dead; a refresh would repair it
        sim.fault("tiktok", "error", status=503, path="/v2/oauth/token/")

        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        run = (await service.http.get("/internal/v1/check-runs/latest")).json()
        assert run["counts"] == {"transient": 1}
        await accounts_unchanged(service, [account])
        await no_incident(service, [account])
        # the refresh token was never spent: once the platform is back, the next run repairs it
        sim.control("DELETE", "/faults")
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        run = (await service.http.get("/internal/v1/check-runs/latest")).json()
        assert run["counts"] == {"repaired": 1}
        assert (await service.account(account.id)).status == "connected"


async def test_a_429_pauses_the_whole_platform_for_its_retry_after(
    sim, make_settings, start
) -> None:
    """One 429 with Retry-After: 2 holds every request to the platform, not just its own."""
    async with start(
        make_settings(platform_limits={"pinterest": {"concurrency": 4, "rate_per_s": 1000.0}})
    ) as service:
        accounts = [await service.add("pinterest", t) for t in sim.mint("pinterest", "paused", 8)]
        sim.fault("pinterest", "rate_limit", path="/v5/user_account", retry_after=2, times=1)
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        run = (await service.http.get("/internal/v1/check-runs/latest")).json()
        # the one told to wait longer than its retry budget gives up (transient, unchanged); the
        # other seven waited for the pause and got through
        assert run["counts"] == {"ok": 7, "transient": 1}
        await accounts_unchanged(service, accounts)
        timeline = sim.timeline("pinterest", resolution_ms=100)
        first, last = timeline[0][0], timeline[-1][0]
        # the 429 answered first; everything else went after the 2 s pause
        assert last - first >= 1.9
        assert sum(calls for at, calls in timeline if at < first + 1.9) <= 4
        metrics = (await service.http.get("/metrics")).text
        waits = [
            line
            for line in metrics.splitlines()
            if line.startswith("mooring_health_rate_limit_waits_total")
            and 'platform="pinterest"' in line
        ]
        assert waits
        assert float(waits[0].rsplit(" ", 1)[1]) >= 1
