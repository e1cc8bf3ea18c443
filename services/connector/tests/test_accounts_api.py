"""The account registry over HTTP, and who may do what on every route."""

import json
import uuid

import pytest

from mooring.testing import read_topic

from .conftest import REDIRECT
from .flows import connect

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.e2e]

PROBLEM = "application/problem+json"


def user_name() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


async def events(stack, event_type, key):
    records = await read_topic(
        stack.kafka.bootstrap_servers,
        f"{stack.topic_prefix}{event_type}",
        until=lambda rs: any(r.key == key.encode() for r in rs),
    )
    return [json.loads(r.value) for r in records if r.key == key.encode()]


async def test_the_platform_catalogue_needs_no_token(stack):
    async with stack.client() as anyone:
        answer = await anyone.get("/v1/platforms")
    assert answer.status_code == 200
    platforms = {p["id"]: p for p in answer.json()}
    assert len(platforms) == 12
    assert platforms["bluesky"]["auth_method"] == "app_password"
    assert platforms["mastodon"]["auth_method"] == "instance_oauth2"
    assert platforms["youtube"]["selection"] is True
    assert platforms["tiktok"]["refresh_model"] == "rotating"


async def test_accounts_list_with_filters_and_pages(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        made = [await connect(stack, client, ws, p, user_name()) for p in ("x", "x", "tiktok")]
        await client.patch(
            f"/v1/workspaces/{ws}/accounts/{made[0]['account_id']}", json={"active": False}
        )
        everything = (await client.get(f"/v1/workspaces/{ws}/accounts")).json()
        assert [a["id"] for a in everything["items"]] == [m["account_id"] for m in made]
        assert everything["next_cursor"] is None
        only_x = (await client.get(f"/v1/workspaces/{ws}/accounts?platform=x")).json()
        assert len(only_x["items"]) == 2
        inactive = (await client.get(f"/v1/workspaces/{ws}/accounts?active=false")).json()
        assert [a["id"] for a in inactive["items"]] == [made[0]["account_id"]]
        expired = (await client.get(f"/v1/workspaces/{ws}/accounts?status=token_expired")).json()
        assert expired["items"] == []
        first = (await client.get(f"/v1/workspaces/{ws}/accounts?limit=2")).json()
        assert len(first["items"]) == 2
        rest = (
            await client.get(
                f"/v1/workspaces/{ws}/accounts", params={"limit": 2, "cursor": first["next_cursor"]}
            )
        ).json()
        assert [a["id"] for a in first["items"] + rest["items"]] == [m["account_id"] for m in made]
        for bad in ("cursor=nope", "limit=0", "limit=101", "status=gone", "platform=myspace"):
            refused = await client.get(f"/v1/workspaces/{ws}/accounts?{bad}")
            assert refused.status_code == 422, bad
            assert refused.headers["content-type"] == PROBLEM
        assert "token" not in json.dumps(everything).replace("token_expires_at", "")


async def test_toggling_active_emits_updated_once(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        landing = await connect(stack, client, ws, "threads", user_name())
        path = f"/v1/workspaces/{ws}/accounts/{landing['account_id']}"
        off = await client.patch(path, json={"active": False})
        assert (off.status_code, off.json()["active"]) == (200, False)
        assert (await client.patch(path, json={"active": False})).status_code == 200
        for bad in ({"active": "no"}, {"active": None}, {}, {"active": False, "status": "x"}):
            assert (await client.patch(path, json=bad)).status_code == 422, bad
    updated = await events(stack, "account.updated", landing["account_id"])
    assert [(e["active"], e["changed"]) for e in updated] == [(False, ["active"])]


async def test_delete_removes_the_row_frees_the_slot_and_calls_no_platform(stack):
    ws, user = uuid.uuid4(), user_name()
    async with stack.client(ws) as client:
        landing = await connect(stack, client, ws, "x", user)
        calls_before = await stack.sim_control("GET", "/calls?platform=x")
        removed = await client.delete(f"/v1/workspaces/{ws}/accounts/{landing['account_id']}")
        assert removed.status_code == 204
        assert removed.content == b""
        assert await stack.sim_control("GET", "/calls?platform=x") == calls_before
        again = await client.delete(f"/v1/workspaces/{ws}/accounts/{landing['account_id']}")
        assert again.status_code == 404
        assert await stack.accounts_of(ws) == []
        gone = await events(stack, "account.disconnected", landing["account_id"])
        assert [(e["reason"], e["status"]) for e in gone] == [("removed", None)]
        # A removed account connected again is a new account.
        back = await connect(stack, client, ws, "x", user)
        assert back["account_id"] != landing["account_id"]
        assert "reconnected" not in back
    async with stack.client(base=stack.billing.url) as billing:
        usage = await billing.get(
            f"/internal/v1/workspaces/{ws}/usage",
            headers={"Authorization": f"Bearer {stack.service_token}"},
        )
    assert usage.json()["used"] == 1


async def test_roles_and_workspace_isolation_on_every_route(stack):
    ws, intruder_ws = uuid.uuid4(), uuid.uuid4()
    async with stack.client(ws) as owner:
        account = (await connect(stack, owner, ws, "x", user_name()))["account_id"]
        selection = (await connect(stack, owner, ws, "youtube", user_name()))["selection"]
    base = f"/v1/workspaces/{ws}"
    routes = [
        ("POST", f"{base}/connections", {"platform": "x", "redirect_url": REDIRECT}, True),
        ("GET", f"{base}/connections/{selection}", None, False),
        ("POST", f"{base}/connections/{selection}/selection", {"candidate_ids": ["c"]}, True),
        ("POST", f"{base}/accounts/bluesky",
         {"handle": "a.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"}, True),
        ("GET", f"{base}/accounts", None, False),
        ("GET", f"{base}/accounts/{account}", None, False),
        ("PATCH", f"{base}/accounts/{account}", {"active": False}, True),
        ("DELETE", f"{base}/accounts/{account}", None, True),
    ]  # fmt: skip
    async with (
        stack.client() as anonymous,
        stack.client(ws, "member") as member,
        stack.client(ws, "admin") as admin,
        stack.client(intruder_ws, "owner") as intruder,
    ):
        for method, path, body, manages in routes:
            nobody = await anonymous.request(method, path, json=body)
            assert nobody.status_code == 401, (method, path)
            assert nobody.headers["content-type"] == PROBLEM
            foreign = await intruder.request(method, path, json=body)
            assert foreign.status_code == 404, (method, path, foreign.text)
            as_member = await member.request(method, path, json=body)
            if manages:
                assert as_member.status_code == 403, (method, path, as_member.text)
                assert as_member.json()["type"] == "urn:mooring:problem:forbidden"
            else:
                assert as_member.status_code == 200, (method, path, as_member.text)
        # Ids of this workspace under the intruder's own workspace: 404, never a peek.
        theirs = f"/v1/workspaces/{intruder_ws}"
        for method, path, body in (
            ("GET", f"{theirs}/accounts/{account}", None),
            ("PATCH", f"{theirs}/accounts/{account}", {"active": False}),
            ("DELETE", f"{theirs}/accounts/{account}", None),
            ("GET", f"{theirs}/connections/{selection}", None),
            ("POST", f"{theirs}/connections/{selection}/selection", {"candidate_ids": ["c"]}),
            ("POST", f"{theirs}/connections",
             {"platform": "x", "redirect_url": REDIRECT, "reconnect_account_id": account}),
        ):  # fmt: skip
            answer = await intruder.request(method, path, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.headers["content-type"] == PROBLEM
        assert (await intruder.get(f"{theirs}/accounts")).json()["items"] == []
        # Admins manage too.
        toggled = await admin.patch(f"{base}/accounts/{account}", json={"active": False})
        assert toggled.status_code == 200
    (row,) = [r for r in await stack.accounts_of(ws) if str(r.id) == account]
    assert row is not None
