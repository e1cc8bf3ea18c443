"""A full connect for each of the 12 platforms, over real HTTP against the simulator."""

import uuid

import pytest

from .flows import connect

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.e2e]

# platform -> (account type, what the simulator names the account: its username)
DIRECT = {
    "linkedin": "personal",
    "x": "personal",
    "instagram": "business",
    "tiktok": "personal",
    "threads": "personal",
    "pinterest": "personal",
}
# platform -> (how many candidates the simulator's default user has, their account type)
SELECTION = {
    "linkedin-page": (2, "organisation"),
    "facebook": (2, "page"),
    "instagram-facebook": (1, "business"),
    "youtube": (2, "channel"),
}


def user_name() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("platform", sorted(DIRECT))
async def test_a_direct_platform_connects_in_one_round_trip(stack, platform):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        landing = await connect(stack, client, ws, platform, user_name())
        assert landing["connected"] == platform, landing
        account = (await client.get(f"/v1/workspaces/{ws}/accounts/{landing['account_id']}")).json()
    assert (account["platform"], account["account_type"], account["status"]) == (
        platform, DIRECT[platform], "connected",
    )  # fmt: skip
    assert account["platform_account_id"]
    (row,) = await stack.accounts_of(ws)
    assert str(row.id) == landing["account_id"]


@pytest.mark.parametrize("platform", sorted(SELECTION))
async def test_a_selection_platform_lists_candidates_then_creates_the_chosen(stack, platform):
    ws = uuid.uuid4()
    count, account_type = SELECTION[platform]
    async with stack.client(ws) as client:
        landing = await connect(stack, client, ws, platform, user_name())
        assert set(landing) == {"selection", "platform"}, landing
        connection = await client.get(f"/v1/workspaces/{ws}/connections/{landing['selection']}")
        assert connection.status_code == 200
        view = connection.json()
        assert (view["status"], view["platform"]) == ("selecting", platform)
        assert len(view["candidates"]) == count
        assert all(c["account_type"] == account_type for c in view["candidates"])
        assert all(not c["connected"] for c in view["candidates"])
        assert "token" not in connection.text.lower()
        assert await stack.accounts_of(ws) == []  # nothing before the choice

        ids = [c["id"] for c in view["candidates"]]
        chosen = await client.post(
            f"/v1/workspaces/{ws}/connections/{landing['selection']}/selection",
            json={"candidate_ids": ids},
        )
        assert chosen.status_code == 201, chosen.text
        accounts = chosen.json()["accounts"]
        assert [a["platform_account_id"] for a in accounts] == ids
        assert all(a["account_type"] == account_type for a in accounts)
        if platform == "instagram-facebook":
            assert accounts[0]["parent_id"]  # the page whose token publishes
        done = (await client.get(f"/v1/workspaces/{ws}/connections/{landing['selection']}")).json()
        assert (done["status"], done["candidates"]) == ("completed", [])
        assert sorted(done["account_ids"]) == sorted(a["id"] for a in accounts)
    rows = await stack.accounts_of(ws)
    assert sorted(r.platform_account_id for r in rows) == sorted(ids)
    (session,) = await stack.sql(
        "SELECT sealed, candidates FROM connector_sessions WHERE id = :id",
        id=uuid.UUID(landing["selection"]),
    )
    assert session.sealed is None  # the pending tokens are gone with the selection
    assert session.candidates == []


async def test_bluesky_connects_with_a_handle_and_an_app_password(stack):
    ws = uuid.uuid4()
    handle = f"{user_name()}.bsky.social"
    await stack.sim_control(
        "POST", "/bluesky/accounts", {"handle": handle, "app_password": "abcd-efgh-ijkl-mnop"}
    )
    async with stack.client(ws) as client:
        created = await client.post(
            f"/v1/workspaces/{ws}/accounts/bluesky",
            json={"handle": handle, "app_password": "abcd-efgh-ijkl-mnop"},
        )
        assert created.status_code == 201, created.text
        account = created.json()
        assert account["platform_account_id"].startswith("did:plc:")
        assert account["username"] == handle
        assert account["service_url"] == f"{stack.sim.url}/bluesky"  # the PDS, resolved
        again = await client.post(
            f"/v1/workspaces/{ws}/accounts/bluesky",
            json={"handle": handle, "app_password": "abcd-efgh-ijkl-mnop"},
        )
        assert again.status_code == 200  # the same DID: reconnected in place
        assert again.json()["id"] == account["id"]
    (row,) = await stack.accounts_of(ws)
    assert b"abcd-efgh-ijkl-mnop" not in bytes(row.credentials)  # sealed with the tokens


async def test_mastodon_connects_on_two_instances_registering_one_app_per_instance(stack):
    ws = uuid.uuid4()
    instances = [f"{stack.sim.url}/mastodon/{name}.example" for name in ("one", "two")]
    before = await stack.sim_control("GET", "/mastodon/registrations")
    async with stack.client(ws) as client:
        landings = [
            await connect(stack, client, ws, "mastodon", user, instance_url=instance)
            for instance in instances
            for user in (user_name(), user_name())
        ]
        assert all(landing["connected"] == "mastodon" for landing in landings), landings
        listed = (await client.get(f"/v1/workspaces/{ws}/accounts?platform=mastodon")).json()
    assert len(listed["items"]) == 4
    assert sorted({a["service_url"] for a in listed["items"]}) == instances
    # The instance is part of the identity: the same local id on two instances is two accounts.
    assert all("@" in a["platform_account_id"] for a in listed["items"])
    registrations = await stack.sim_control("GET", "/mastodon/registrations")
    for name in ("one.example", "two.example"):
        assert registrations[name] - before.get(name, 0) <= 1, registrations
        assert registrations[name] == 1


async def test_mastodon_needs_an_instance_and_the_ssrf_guard_applies(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        missing = await client.post(
            f"/v1/workspaces/{ws}/connections",
            json={"platform": "mastodon", "redirect_url": "http://127.0.0.1:3999/landing"},
        )
        assert missing.status_code == 422
        assert missing.json()["type"] == "urn:mooring:problem:instance-required"
        for unsafe in ("https://169.254.169.254", "http://10.0.0.1", "https://localhost"):
            refused = await client.post(
                f"/v1/workspaces/{ws}/connections",
                json={"platform": "mastodon", "redirect_url": "http://127.0.0.1:3999/landing",
                      "instance_url": unsafe},
            )  # fmt: skip
            assert refused.status_code == 422, refused.text
            assert refused.json()["type"] == "urn:mooring:problem:unsafe-url", refused.text
    assert await stack.sql("SELECT 1 FROM connector_sessions WHERE workspace_id = :ws", ws=ws) == []
