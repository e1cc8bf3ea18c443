"""The connect flow's rules over real HTTP: reconnects, identities, states, redirects, failures."""

import asyncio
import json
import uuid

import pytest

from mooring.testing import read_topic

from .conftest import RATE_LIMIT, REDIRECT
from .flows import callback, connect, consent, landing_of, start

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.e2e]

PROBLEM = "application/problem+json"


def user_name() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


async def test_reconnecting_the_same_identity_updates_the_row_in_place(stack):
    ws, user = uuid.uuid4(), user_name()
    async with stack.client(ws) as client:
        first = await connect(stack, client, ws, "tiktok", user)
        (before,) = await stack.accounts_of(ws)
        await stack.sql("UPDATE accounts SET status = 'token_expired' WHERE id = :id", id=before.id)
        again = await connect(stack, client, ws, "tiktok", user)
        by_id = await connect(
            stack, client, ws, "tiktok", user, reconnect_account_id=first["account_id"]
        )
    assert again == {
        "connected": "tiktok",
        "account_id": first["account_id"],
        "reconnected": "true",
    }
    assert by_id == again
    (after,) = await stack.accounts_of(ws)
    assert (after.id, after.status) == (before.id, "connected")
    assert after.version == before.version + 2
    assert bytes(after.credentials) != bytes(before.credentials)  # the new tokens
    records = await read_topic(
        stack.kafka.bootstrap_servers,
        f"{stack.topic_prefix}account.connected",
        until=lambda rs: sum(r.key == first["account_id"].encode() for r in rs) >= 3,
    )
    mine = [json.loads(r.value) for r in records if r.key == first["account_id"].encode()]
    assert [e["reconnected"] for e in mine] == [False, True, True]


async def test_the_same_platform_account_in_two_workspaces_is_two_accounts(stack):
    user, ws_a, ws_b = user_name(), uuid.uuid4(), uuid.uuid4()
    async with stack.client(ws_a) as a, stack.client(ws_b) as b:
        in_a = await connect(stack, a, ws_a, "pinterest", user)
        in_b = await connect(stack, b, ws_b, "pinterest", user)
        assert in_a["account_id"] != in_b["account_id"]
        assert "reconnected" not in in_b
        assert (
            await a.get(f"/v1/workspaces/{ws_a}/accounts/{in_b['account_id']}")
        ).status_code == 404
    (row_a,), (row_b,) = await stack.accounts_of(ws_a), await stack.accounts_of(ws_b)
    assert row_a.platform_account_id == row_b.platform_account_id


async def test_a_reconnect_that_signs_in_another_account_changes_nothing(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        alice = await connect(stack, client, ws, "x", user_name())
        (before,) = await stack.accounts_of(ws)
        landing = await connect(
            stack, client, ws, "x", user_name(), reconnect_account_id=alice["account_id"]
        )
        assert landing == {"error": "wrong_account", "platform": "x"}
        # The same for a selection platform: the page must be among the grant's pages.
        fb = await connect(stack, client, ws, "facebook", user_name())
        connection = (await client.get(f"/v1/workspaces/{ws}/connections/{fb['selection']}")).json()
        page_id = connection["candidates"][0]["id"]
        made = await client.post(
            f"/v1/workspaces/{ws}/connections/{fb['selection']}/selection",
            json={"candidate_ids": [page_id]},
        )
        page_account = made.json()["accounts"][0]["id"]
        (page_before,) = [r for r in await stack.accounts_of(ws) if r.platform == "facebook"]
        wrong = await connect(
            stack, client, ws, "facebook", user_name(), reconnect_account_id=page_account
        )
        assert wrong == {"error": "wrong_account", "platform": "facebook"}
    rows = {r.id: r for r in await stack.accounts_of(ws)}
    assert (rows[before.id].version, bytes(rows[before.id].credentials)) == (
        before.version, bytes(before.credentials),
    )  # fmt: skip
    assert rows[page_before.id].version == page_before.version
    assert len(rows) == 2


async def test_a_reconnect_must_name_an_account_of_the_workspace_and_platform(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        landing = await connect(stack, client, ws, "x", user_name())
        other_platform = await start(
            client, ws, "tiktok", reconnect_account_id=landing["account_id"]
        )
        assert other_platform.status_code == 422
        assert other_platform.json()["type"] == "urn:mooring:problem:reconnect-platform-mismatch"
        unknown = await start(client, ws, "x", reconnect_account_id=str(uuid.uuid4()))
        assert unknown.status_code == 404
    other_ws = uuid.uuid4()
    async with stack.client(other_ws) as other:
        foreign = await start(other, other_ws, "x", reconnect_account_id=landing["account_id"])
        assert foreign.status_code == 404


async def test_forged_missing_replayed_expired_and_other_platform_states_make_nothing(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        started = (await start(client, ws, "x")).json()
        url = await consent(started["authorization_url"], user_name())
        code_and_state = url.split("?", 1)[1]
        async with stack.client() as browser:
            for query in (
                f"code=abc&state={uuid.uuid4().hex}",  # forged
                "code=abc",  # missing
                f"code=abc&state={started['state']}x",
            ):
                forged = await browser.get(f"/v1/oauth/x/callback?{query}")
                assert forged.status_code == 400, forged.text
                assert forged.headers["content-type"] == PROBLEM
                assert forged.json()["type"] == "urn:mooring:problem:invalid-state"
            other = landing_of(await browser.get(f"/v1/oauth/tiktok/callback?{code_and_state}"))
            assert other == {"error": "wrong_platform", "platform": "x"}
            replay = landing_of(await browser.get(url))
            assert replay == {"error": "state_used", "platform": "x"}

        late = (await start(client, ws, "x")).json()
        late_url = await consent(late["authorization_url"], user_name())
        await stack.sql(
            "UPDATE connector_sessions SET expires_at = clock_timestamp() - interval '1 s' "
            "WHERE id = :id",
            id=uuid.UUID(late["connection_id"]),
        )
        expired = landing_of(await callback(stack, late_url))
        assert expired == {"error": "state_expired", "platform": "x"}
        status = await client.get(f"/v1/workspaces/{ws}/connections/{late['connection_id']}")
        assert (status.json()["status"], status.json()["error"]) == ("failed", "state_expired")
    assert await stack.accounts_of(ws) == []


async def test_a_redirect_url_off_the_allow_list_is_refused_before_anything_starts(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        for redirect in (
            "https://evil.example/landing",
            "http://127.0.0.1.evil.example/",
            "javascript:alert(1)",
            "http://user:pw@127.0.0.1:3999/",
            "//evil.example/",
        ):
            refused = await client.post(
                f"/v1/workspaces/{ws}/connections",
                json={"platform": "x", "redirect_url": redirect},
            )
            assert refused.status_code == 422, redirect
            assert refused.headers["content-type"] == PROBLEM
            assert refused.json()["type"] == "urn:mooring:problem:redirect-not-allowed"
    assert await stack.sql("SELECT 1 FROM connector_sessions WHERE workspace_id = :ws", ws=ws) == []


async def test_the_platforms_own_error_is_carried_through_as_error(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        started = (await start(client, ws, "linkedin")).json()
        denied = landing_of(
            await callback(stack, await consent(started["authorization_url"], "u", "deny"))
        )
    assert denied == {"error": "access_denied", "platform": "linkedin"}
    assert await stack.accounts_of(ws) == []


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"kind": "error", "status": 500}, "platform_unavailable"),
        ({"kind": "rate_limit", "retry_after": 60}, "platform_unavailable"),
        ({"kind": "error", "status": 400}, "platform_refused"),
    ],
)
async def test_the_simulator_failing_the_token_exchange_is_a_clear_error_and_no_account(
    stack, fault, code
):
    ws = uuid.uuid4()
    rule = await stack.sim_control(
        "POST", "/faults", {"platform": "x", "path": "/2/oauth2/token", "method": "POST", **fault}
    )
    try:
        async with stack.client(ws) as client:
            landing = await connect(stack, client, ws, "x", user_name())
    finally:
        await stack.sim_control("DELETE", f"/faults/{rule['id']}")
    assert landing == {"error": code, "platform": "x"}
    assert await stack.accounts_of(ws) == []
    (session,) = await stack.sql(
        "SELECT status, error, sealed FROM connector_sessions WHERE workspace_id = :ws", ws=ws
    )
    assert (session.status, session.error, session.sealed) == ("failed", code, None)


async def test_connect_starts_are_rate_limited_per_workspace(stack):
    ws, other = uuid.uuid4(), uuid.uuid4()
    async with stack.client(ws) as client, stack.client(other) as other_client:
        answers = await asyncio.gather(*(start(client, ws, "x") for _ in range(RATE_LIMIT)))
        assert all(a.status_code == 201 for a in answers)
        limited = await start(client, ws, "x")
        assert limited.status_code == 429
        assert limited.headers["content-type"] == PROBLEM
        assert limited.json()["type"] == "urn:mooring:problem:rate-limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await start(other_client, other, "x")).status_code == 201  # per workspace
        await stack.sql(
            "UPDATE connector_start_windows SET window_started_at = clock_timestamp() - "
            "interval '61 s' WHERE workspace_id = :ws",
            ws=ws,
        )
        assert (await start(client, ws, "x")).status_code == 201  # a new window


async def test_an_unknown_platform_or_a_bluesky_start_is_refused(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        unknown = await client.post(
            f"/v1/workspaces/{ws}/connections",
            json={"platform": "myspace", "redirect_url": REDIRECT},
        )
        assert unknown.status_code == 422
        bluesky = await start(client, ws, "bluesky")
        assert bluesky.status_code == 422
        assert bluesky.json()["type"] == "urn:mooring:problem:app-password-platform"
        async with stack.client() as browser:
            assert (await browser.get("/v1/oauth/myspace/callback?state=x")).status_code == 422
