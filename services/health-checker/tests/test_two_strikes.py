"""The two-strike state machine and its recovery, run by the job against the simulator, with
the events it publishes read back from Kafka."""

from __future__ import annotations

import pytest

from health_checker.main import CHECK_JOB

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.usefixtures("clean")]


def of(account, events):
    return [e for e in events if e["account_id"] == str(account.id)]


async def latest_run(service) -> dict:
    response = await service.http.get("/internal/v1/check-runs/latest")
    assert response.status_code == 200, response.text
    return response.json()


async def test_first_failure_expires_the_second_disconnects_then_checks_stop(
    sim, make_settings, start
) -> None:
    async with start(make_settings()) as service:
        account = await service.add("linkedin", await sim.connect("linkedin", "two-strikes"))
        sim.revoke("linkedin", "two-strikes")

        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        first = await latest_run(service)
        assert first["counts"] == {"expired": 1}
        assert (await service.account(account.id)).status == "token_expired"

        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        second = await latest_run(service)
        assert second["check_run_id"] != first["check_run_id"]
        assert second["counts"] == {"disconnected": 1}
        gone = await service.account(account.id)
        assert (gone.status, gone.auth_failures) == ("disconnected", 2)

        # What a dashboard sees of the two runs: one check each, each a transition.
        for kind in ("expired", "disconnected"):
            labels = {"platform": "linkedin", "outcome": kind}
            assert await service.metric("mooring_health_accounts_checked_total", **labels) == 1
            labels = {"platform": "linkedin", "kind": kind}
            assert await service.metric("mooring_health_transitions_total", **labels) == 1

        # A disconnected account waits for its owner: later runs leave it alone.
        calls = sim.calls("linkedin")
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        assert (await latest_run(service))["planned"] == 0
        assert sim.calls("linkedin") == calls

        disconnected = of(
            account, await service.events("account.disconnected", until=lambda es: of(account, es))
        )
        updated = of(
            account, await service.events("account.updated", until=lambda es: of(account, es))
        )
    assert [(e["status"], e["reason"], e["check_run_id"]) for e in disconnected] == [
        ("token_expired", "revoked", first["check_run_id"])
    ]
    assert [(e["status"], e["changed"], e["check_run_id"]) for e in updated] == [
        ("disconnected", ["status"], second["check_run_id"])
    ]


async def test_a_token_expired_account_that_works_again_recovers(sim, make_settings, start) -> None:
    async with start(make_settings()) as service:
        account = await service.add(
            "tiktok",
            await sim.connect("tiktok", "recovers"),
            status="token_expired",
            auth_failures=1,
        )
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        run = await latest_run(service)
        assert run["counts"] == {"recovered": 1}
        recovered = await service.account(account.id)
        assert (recovered.status, recovered.auth_failures) == ("connected", 0)
        updated = of(
            account, await service.events("account.updated", until=lambda es: of(account, es))
        )
    assert [(e["status"], e["changed"], e["check_run_id"]) for e in updated] == [
        ("connected", ["status"], run["check_run_id"])
    ]


async def test_an_expired_access_token_that_one_refresh_repairs_stays_connected(
    sim, make_settings, start
) -> None:
    tokens = await sim.connect("x", "repaired")
    async with start(make_settings()) as service:
        account = await service.add("x", tokens)
        assert sim.expire_access(tokens.access_token) == 1
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        assert (await latest_run(service))["counts"] == {"repaired": 1}
        after = await service.account(account.id)
        assert (after.status, after.auth_failures) == ("connected", 0)
        assert after.credentials.access_token != tokens.access_token  # the refreshed one, kept
        assert sim.token_status(after.credentials.access_token) == "ok"  # type: ignore[arg-type]
        # X rotates refresh tokens: the used one is dead, the stored one is the new one.
        assert sim.token_status(tokens.refresh_token) == "revoked"  # type: ignore[arg-type]
        refreshed = await service.events("token.refreshed", until=lambda es: of(account, es))
        assert len(of(account, refreshed)) == 1
        disconnected = await service.events("account.disconnected", until=lambda _: True)
        assert of(account, disconnected) == []


async def test_a_token_expired_account_found_failing_again_is_disconnected(
    sim, make_settings, start
) -> None:
    """Token-keeper (or an earlier check) already moved it to token_expired: that was strike one."""
    async with start(make_settings()) as service:
        account = await service.add(
            "pinterest", await sim.connect("pinterest", "second"), status="token_expired"
        )
        sim.revoke("pinterest", "second")
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        assert (await latest_run(service))["counts"] == {"disconnected": 1}
        assert (await service.account(account.id)).status == "disconnected"


async def test_a_platform_without_refresh_is_expired_on_its_first_verdict(
    sim, make_settings, start
) -> None:
    async with start(make_settings()) as service:
        account = await service.add("mastodon", await sim.connect("mastodon", "no-refresh"))
        sim.revoke("mastodon", "no-refresh")
        sim.control("DELETE", "/calls")
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        assert (await latest_run(service))["counts"] == {"expired": 1}
        assert (await service.account(account.id)).status == "token_expired"
        # one verify, no refresh call (Mastodon tokens have none), no second verify
        calls = sim.control("GET", "/calls?platform=mastodon")["mastodon"]
        assert calls == {"/mastodon/mastodon.social/api/v1/accounts/verify_credentials": 1}


PLATFORMS = [
    "linkedin",
    "linkedin-page",
    "x",
    "facebook",
    "instagram",
    "instagram-facebook",
    "tiktok",
    "youtube",
    "threads",
    "pinterest",
    "bluesky",
    "mastodon",
]


async def test_every_platform_is_checked_and_expired_by_its_own_verify(
    sim, make_settings, start
) -> None:
    async with start(make_settings()) as service:
        healthy, dead = {}, {}
        for platform in PLATFORMS:
            healthy[platform] = await service.add(
                platform, sim.mint(platform, f"ok-{platform}", 1)[0]
            )
            dead[platform] = await service.add(
                platform, sim.mint(platform, f"dead-{platform}", 1)[0]
            )
            sim.revoke(platform, f"dead-{platform}")
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        run = await latest_run(service)
        assert run["counts"] == {"ok": 12, "expired": 12}
        assert run["platforms"] == {p: {"ok": 1, "expired": 1} for p in PLATFORMS}
        for platform in PLATFORMS:
            assert (await service.account(healthy[platform].id)).status == "connected", platform
            assert (await service.account(dead[platform].id)).status == "token_expired", platform
