"""Plan limits through a real billing-gate process: 402 at the cap, never for a reconnect,
exactly one of 20 concurrent connects at limit - 1, all-or-nothing selections, and nothing made
while billing-gate is down."""

import asyncio
import uuid

import pytest

from .flows import callback, connect, consent, landing_of, start

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.e2e]

PROBLEM = "application/problem+json"
STARTER = 5


def user_name() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


async def usage(stack, ws):
    async with stack.client(base=stack.billing.url) as billing:
        answer = await billing.get(
            f"/internal/v1/workspaces/{ws}/usage",
            headers={"Authorization": f"Bearer {stack.service_token}"},
        )
    return answer.json()


async def fill(stack, client, ws, n, platform="x"):
    return [await connect(stack, client, ws, platform, user_name()) for _ in range(n)]


async def test_at_the_cap_a_new_connect_gets_402_with_the_plan_but_a_reconnect_never_does(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        made = await fill(stack, client, ws, STARTER)
        refused = await start(client, ws, "linkedin")
        assert refused.status_code == 402
        assert refused.headers["content-type"] == PROBLEM
        body = refused.json()
        assert body["type"] == "urn:mooring:problem:plan-limit-reached"
        assert (body["plan"], body["limit"], body["used"], body["upgrade_to"]) == (
            "starter", STARTER, STARTER, "plus",
        )  # fmt: skip
        assert "starter" in body["detail"]

        # An explicit reconnect at the cap: no early 402, and the callback reconnects in place.
        (first,) = [m["account_id"] for m in made[:1]]
        rows = await stack.accounts_of(ws)
        user = (await client.get(f"/v1/workspaces/{ws}/accounts/{first}")).json()["username"]
        landing = await connect(stack, client, ws, "x", user, reconnect_account_id=first)
        assert landing == {"connected": "x", "account_id": first, "reconnected": "true"}
        assert len(await stack.accounts_of(ws)) == len(rows) == STARTER

        # Bluesky names its identity up front: a DID the workspace has is never refused.
        handle = f"{user_name()}.bsky.social"
        await stack.sim_control(
            "POST", "/bluesky/accounts", {"handle": handle, "app_password": "abcd-efgh-ijkl-mnop"}
        )
        sky = await client.post(
            f"/v1/workspaces/{ws}/accounts/bluesky",
            json={"handle": handle, "app_password": "abcd-efgh-ijkl-mnop"},
        )
        assert sky.status_code == 402  # a new identity at the cap
        assert sky.json()["used"] == STARTER
    assert (await usage(stack, ws))["used"] == STARTER


async def test_twenty_concurrent_callbacks_at_limit_minus_one_make_exactly_one_account(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        await fill(stack, client, ws, STARTER - 1)
        starts = await asyncio.gather(*(start(client, ws, "x") for _ in range(20)))
        assert all(s.status_code == 201 for s in starts), [s.text for s in starts]
        urls = await asyncio.gather(
            *(consent(s.json()["authorization_url"], user_name()) for s in starts)
        )
        landings = [
            landing_of(r) for r in await asyncio.gather(*(callback(stack, u) for u in urls))
        ]
    connected = [landing for landing in landings if "connected" in landing]
    assert len(connected) == 1, landings
    refused = {landing.get("error") for landing in landings if "connected" not in landing}
    assert refused <= {"plan_limit_reached", "billing_unavailable"}, refused
    assert "plan_limit_reached" in refused
    assert len(await stack.accounts_of(ws)) == STARTER
    counted = await usage(stack, ws)
    assert (counted["used"], counted["reserved"]) == (STARTER, 0)  # no slot left held


async def test_a_selection_that_does_not_fit_is_refused_whole(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        await fill(stack, client, ws, STARTER - 1)
        landing = await connect(stack, client, ws, "facebook", user_name())
        path = f"/v1/workspaces/{ws}/connections/{landing['selection']}"
        ids = [c["id"] for c in (await client.get(path)).json()["candidates"]]
        assert len(ids) == 2
        refused = await client.post(f"{path}/selection", json={"candidate_ids": ids})
        assert refused.status_code == 402, refused.text
        assert refused.json()["type"] == "urn:mooring:problem:plan-limit-reached"
        assert [r.platform for r in await stack.accounts_of(ws)].count("facebook") == 0
        assert (await usage(stack, ws))["reserved"] == 0  # the granted slot was given back
        assert (await client.get(path)).json()["status"] == "selecting"  # pick fewer
        one = await client.post(f"{path}/selection", json={"candidate_ids": ids[:1]})
        assert one.status_code == 201, one.text
        again = await client.post(f"{path}/selection", json={"candidate_ids": ids[1:]})
        assert again.status_code == 409
    assert len(await stack.accounts_of(ws)) == STARTER


async def test_pending_candidates_expire_with_the_state(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        landing = await connect(stack, client, ws, "youtube", user_name())
        path = f"/v1/workspaces/{ws}/connections/{landing['selection']}"
        await stack.sql(
            "UPDATE connector_sessions SET expires_at = clock_timestamp() - interval '1 s' "
            "WHERE id = :id",
            id=uuid.UUID(landing["selection"]),
        )
        view = (await client.get(path)).json()
        assert (view["status"], view["candidates"]) == ("expired", [])
        late = await client.post(f"{path}/selection", json={"candidate_ids": ["anything"]})
        assert late.status_code == 410
        assert late.json()["type"] == "urn:mooring:problem:connection-expired"
    assert await stack.accounts_of(ws) == []


async def test_with_billing_gate_stopped_nothing_is_made_and_the_answer_is_503(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        pending = (await start(client, ws, "x")).json()
        selection = await connect(stack, client, ws, "linkedin-page", user_name())
        path = f"/v1/workspaces/{ws}/connections/{selection['selection']}"
        org = (await client.get(path)).json()["candidates"][0]["id"]
        url = await consent(pending["authorization_url"], user_name())
        handle = f"{user_name()}.bsky.social"
        await stack.sim_control(
            "POST", "/bluesky/accounts", {"handle": handle, "app_password": "abcd-efgh-ijkl-mnop"}
        )
        await stack.billing.stop()
        try:
            refused = await start(client, ws, "x")
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == PROBLEM
            assert refused.json()["type"] == "urn:mooring:problem:billing-unavailable"
            assert int(refused.headers["retry-after"]) >= 1
            sky = await client.post(
                f"/v1/workspaces/{ws}/accounts/bluesky",
                json={"handle": handle, "app_password": "abcd-efgh-ijkl-mnop"},
            )
            assert sky.status_code == 503
            picked = await client.post(f"{path}/selection", json={"candidate_ids": [org]})
            assert picked.status_code == 503
            assert "retry-after" in picked.headers
            landing = landing_of(await callback(stack, url))
            assert landing == {"error": "billing_unavailable", "platform": "x"}
        finally:
            await stack.billing.start()
        assert await stack.accounts_of(ws) == []
        # Billing back: the selection was left selectable, and now goes through.
        picked = await client.post(f"{path}/selection", json={"candidate_ids": [org]})
        assert picked.status_code == 201, picked.text
    counted = await usage(stack, ws)
    assert (counted["used"], counted["reserved"]) == (1, 0)
