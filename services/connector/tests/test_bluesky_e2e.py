"""Bluesky through the connector against the simulated PDS: what a real PDS taught us."""

import uuid

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.e2e]

PROBLEM = "application/problem+json"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"


def handle() -> str:
    return f"u{uuid.uuid4().hex[:8]}.bsky.social"


async def connect(stack, ws, who, password=APP_PASSWORD, **fields):
    async with stack.client(ws) as client:
        return await client.post(
            f"/v1/workspaces/{ws}/accounts/bluesky",
            json={"handle": who, "app_password": password, **fields},
        )


async def calls(stack, path):
    counted = await stack.sim_control("GET", "/calls?platform=bluesky")
    return counted.get("bluesky", {}).get(f"/bluesky/xrpc/{path}", 0)


async def test_a_main_password_shaped_like_an_app_password_is_refused_and_its_session_deleted(
    stack,
):
    ws, who = uuid.uuid4(), handle()
    await stack.sim_control(
        "POST", "/bluesky/accounts", {"handle": who, "main_password": "main-pass-word-1234"}
    )
    deleted = await calls(stack, "com.atproto.server.deleteSession")
    refused = await connect(stack, ws, who, "main-pass-word-1234")
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "urn:mooring:problem:app-password-required"
    assert "App Password" in refused.json()["detail"]
    assert "main-pass-word-1234" not in refused.text
    assert await calls(stack, "com.atproto.server.deleteSession") == deleted + 1
    assert await stack.accounts_of(ws) == []


async def test_a_password_that_is_not_shaped_like_one_never_reaches_the_pds(stack):
    ws = uuid.uuid4()
    before = await calls(stack, "com.atproto.server.createSession")
    refused = await connect(stack, ws, handle(), "hunter2")
    assert refused.status_code == 422
    assert refused.json()["type"] == "urn:mooring:problem:app-password-required"
    assert await calls(stack, "com.atproto.server.createSession") == before


@pytest.mark.parametrize("status", ["deactivated", "suspended", "takendown"])
async def test_an_inactive_account_does_not_connect(stack, status):
    ws, who = uuid.uuid4(), handle()
    await stack.sim_control(
        "POST", "/bluesky/accounts", {"handle": who, "app_password": APP_PASSWORD, "status": status}
    )
    refused = await connect(stack, ws, who)
    assert refused.status_code == 422, refused.text
    # Deactivated and suspended accounts get a session saying `active: false`; a taken-down one
    # is refused by the PDS itself (AccountTakedown): the same answer here.
    assert refused.json()["type"] == "urn:mooring:problem:platform-account-inactive"
    assert refused.json()["detail"]
    assert await stack.accounts_of(ws) == []


async def test_the_pds_message_reaches_the_problem_detail_and_the_log(stack):
    ws, who = uuid.uuid4(), handle()
    await stack.sim_control(
        "POST", "/bluesky/accounts", {"handle": who, "app_password": APP_PASSWORD}
    )
    refused = await connect(stack, ws, who, "zzzz-zzzz-zzzz-zzzz")
    assert refused.status_code == 422
    body = refused.json()
    assert body["type"] == "urn:mooring:problem:platform-credentials-rejected"
    assert body["detail"] == "AuthenticationRequired: Invalid identifier or password"
    assert any(
        "Invalid identifier or password" in line and '"platform": "bluesky"' in line
        for line in stack.log_lines()
    )
    assert not any("zzzz-zzzz-zzzz-zzzz" in line for line in stack.log_lines())


async def test_without_an_appview_the_account_connects_under_the_sessions_handle(stack):
    ws, who = uuid.uuid4(), handle()
    await stack.sim_control(
        "POST", "/bluesky/accounts", {"handle": who, "app_password": APP_PASSWORD, "appview": False}
    )
    created = await connect(stack, ws, who)
    assert created.status_code == 201, created.text
    assert (created.json()["username"], created.json()["display_name"]) == (who, None)


async def test_a_bluesky_reconnect_of_another_did_is_refused_and_changes_nothing(stack):
    ws, first, second = uuid.uuid4(), handle(), handle()
    for who in (first, second):
        await stack.sim_control(
            "POST", "/bluesky/accounts", {"handle": who, "app_password": APP_PASSWORD}
        )
    account = (await connect(stack, ws, first)).json()
    (before,) = await stack.accounts_of(ws)
    wrong = await connect(stack, ws, second, reconnect_account_id=account["id"])
    assert wrong.status_code == 409
    assert wrong.json()["type"] == "urn:mooring:problem:wrong-account"
    (after,) = await stack.accounts_of(ws)
    assert (after.version, bytes(after.credentials)) == (before.version, bytes(before.credentials))
    same = await connect(stack, ws, first, reconnect_account_id=account["id"])
    assert (same.status_code, same.json()["id"]) == (200, account["id"])
