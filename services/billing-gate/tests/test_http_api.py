"""The internal gate and the public usage read, over HTTP against a running service."""

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text

from mooring.service.auth import issue_gateway_token

from .conftest import expire_now

pytestmark = [pytest.mark.integration, pytest.mark.connected]

PROBLEM = "application/problem+json"


async def test_internal_routes_refuse_a_missing_or_wrong_service_token(service) -> None:
    ws = uuid.uuid4()
    raw = httpx.AsyncClient(transport=service.http._transport, base_url="http://billing-gate")
    async with raw:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
            for method, path in (
                ("GET", f"{service.ws(ws)}/decision"),
                ("POST", f"{service.ws(ws)}/reservations"),
                ("PUT", f"{service.ws(ws)}/plan"),
            ):
                r = await raw.request(method, path, headers=headers, json={})
                assert r.status_code == 401, (method, path, headers, r.text)
                assert r.headers["content-type"] == PROBLEM
                assert r.json()["type"] == "urn:mooring:problem:unauthenticated"
                assert r.headers["www-authenticate"].startswith("Bearer")
        assert (await raw.get(f"/v1/workspaces/{ws}/usage")).status_code == 401


async def test_a_workspace_nobody_named_has_the_default_plan(service) -> None:
    ws = uuid.uuid4()
    assert await service.usage(ws) == {
        "workspace_id": str(ws),
        "plan": "starter",
        "limit": 5,
        "used": 0,
        "reserved": 0,
        "upgrade_to": "plus",
    }


async def test_plan_changes_through_the_internal_api_and_unknown_plans_are_refused(service) -> None:
    ws = uuid.uuid4()
    r = await service.http.put(f"{service.ws(ws)}/plan", json={"plan": "enterprise"})
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"] == "urn:mooring:problem:unknown-plan"
    assert r.json()["known_plans"] == ["starter", "plus", "pro", "max"]

    r = await service.http.put(f"{service.ws(ws)}/plan", json={"plan": "Pro"})
    assert r.status_code == 200
    assert (r.json()["plan"], r.json()["limit"], r.json()["applied"]) == ("pro", 30, True)
    stale = await service.http.put(
        f"{service.ws(ws)}/plan", json={"plan": "plus", "changed_at": "2020-01-01T00:00:00Z"}
    )
    assert (stale.json()["plan"], stale.json()["applied"]) == ("pro", False)


async def test_at_the_cap_a_new_account_gets_402_with_plan_limit_usage_and_upgrade(service) -> None:
    ws = uuid.uuid4()
    await service.connect_accounts(ws, 5)
    for r in (
        await service.http.get(f"{service.ws(ws)}/decision"),
        await service.http.post(f"{service.ws(ws)}/reservations", json={}),
    ):
        assert r.status_code == 402, r.text
        assert r.headers["content-type"] == PROBLEM
        body = r.json()
        assert body["type"] == "urn:mooring:problem:plan-limit-reached"
        assert (body["plan"], body["limit"], body["used"], body["upgrade_to"]) == (
            "starter", 5, 5, "plus",
        )  # fmt: skip


async def test_reserve_confirm_release_lifecycle(service) -> None:
    ws = uuid.uuid4()
    r = await service.http.post(f"{service.ws(ws)}/reservations", json={})
    assert r.status_code == 201, r.text
    granted = r.json()
    assert (granted["status"], granted["used"], granted["reserved"]) == ("pending", 0, 1)
    rid = granted["reservation_id"]
    assert (await service.usage(ws))["reserved"] == 1

    # Taken without an identity: the confirm must name it.
    bad = await service.http.post(
        f"{service.ws(ws)}/reservations/{rid}/confirm", json={"account_id": str(uuid.uuid4())}
    )
    assert bad.status_code == 422
    assert bad.json()["type"] == "urn:mooring:problem:identity-required"

    account = uuid.uuid4()
    confirm = {"account_id": str(account), "platform": "x", "platform_account_id": "42"}
    c = await service.http.post(f"{service.ws(ws)}/reservations/{rid}/confirm", json=confirm)
    assert c.status_code == 200, c.text
    assert (c.json()["status"], c.json()["account_id"]) == ("confirmed", str(account))
    again = await service.http.post(f"{service.ws(ws)}/reservations/{rid}/confirm", json=confirm)
    assert again.status_code == 200
    usage = await service.usage(ws)
    assert (usage["used"], usage["reserved"]) == (1, 0)

    conflict = await service.http.delete(f"{service.ws(ws)}/reservations/{rid}")
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "urn:mooring:problem:reservation-conflict"

    other = (await service.http.post(f"{service.ws(ws)}/reservations", json={})).json()
    assert (await service.http.delete(f"{service.ws(ws)}/reservations/{other['reservation_id']}")).status_code == 204  # fmt: skip
    assert (await service.http.delete(f"{service.ws(ws)}/reservations/{other['reservation_id']}")).status_code == 204  # fmt: skip
    assert (await service.usage(ws))["reserved"] == 0
    refused = await service.http.post(
        f"{service.ws(ws)}/reservations/{other['reservation_id']}/confirm", json=confirm
    )
    assert refused.status_code == 409

    missing = await service.http.delete(f"{service.ws(ws)}/reservations/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["type"] == "urn:mooring:problem:reservation-not-found"
    elsewhere = await service.http.get(f"{service.ws(uuid.uuid4())}/reservations/{rid}")
    assert elsewhere.status_code == 404  # another workspace's reservation is not found


async def test_a_retried_reservation_returns_the_same_slot(service) -> None:
    ws = uuid.uuid4()
    rid = str(uuid.uuid4())
    first = await service.http.post(f"{service.ws(ws)}/reservations", json={"reservation_id": rid})
    second = await service.http.post(f"{service.ws(ws)}/reservations", json={"reservation_id": rid})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["reservation_id"] == second.json()["reservation_id"] == rid
    same_identity = {"platform": "x", "platform_account_id": "7"}
    a = await service.http.post(f"{service.ws(ws)}/reservations", json=same_identity)
    b = await service.http.post(f"{service.ws(ws)}/reservations", json=same_identity)
    assert (a.status_code, b.status_code) == (201, 200)
    assert a.json()["reservation_id"] == b.json()["reservation_id"]
    assert (await service.usage(ws))["reserved"] == 2


async def test_an_expired_reservation_frees_its_slot(service, engine) -> None:
    ws = uuid.uuid4()
    await service.connect_accounts(ws, 4)
    held = await service.http.post(f"{service.ws(ws)}/reservations", json={})
    assert held.status_code == 201
    assert (await service.http.post(f"{service.ws(ws)}/reservations", json={})).status_code == 402
    rid = held.json()["reservation_id"]
    await expire_now(engine, rid)
    # Expiry is read at decision time: the slot is free whether or not the sweeper ran.
    again = await service.http.post(f"{service.ws(ws)}/reservations", json={})
    assert again.status_code == 201, again.text
    state = await service.http.get(f"{service.ws(ws)}/reservations/{rid}")
    assert state.json()["status"] == "expired"
    for _ in range(50):  # and the sweeper marks it too
        state = await service.http.get(f"{service.ws(ws)}/reservations/{rid}")
        if state.json()["released_at"] is not None:
            break
        await asyncio.sleep(0.1)
    assert state.json()["released_at"] is not None


async def test_reservation_times_come_from_the_database_clock(service, engine) -> None:
    ws = uuid.uuid4()
    async with engine.connect() as conn:
        before = (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()
    r = await service.http.post(f"{service.ws(ws)}/reservations", json={"ttl_s": 60})
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT created_at, expires_at, clock_timestamp() AS after "
                     "FROM billing_reservations WHERE id = :id"),
                {"id": uuid.UUID(r.json()["reservation_id"])},
            )
        ).one()  # fmt: skip
    assert before <= row.created_at <= row.after
    assert (row.expires_at - row.created_at).total_seconds() == 60


async def test_a_caller_chosen_id_is_never_swapped_for_another_flows_reservation(service) -> None:
    ws = uuid.uuid4()
    identity = {"platform": "x", "platform_account_id": "shared-handle"}
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    a = await service.http.post(
        f"{service.ws(ws)}/reservations", json={**identity, "reservation_id": first}
    )
    b = await service.http.post(
        f"{service.ws(ws)}/reservations", json={**identity, "reservation_id": second}
    )
    assert (a.status_code, b.status_code) == (201, 201), b.text
    assert (a.json()["reservation_id"], b.json()["reservation_id"]) == (first, second)
    retry = await service.http.post(
        f"{service.ws(ws)}/reservations", json={**identity, "reservation_id": second}
    )
    assert (retry.status_code, retry.json()["reservation_id"]) == (200, second)
    assert (await service.usage(ws))["reserved"] == 2


async def test_a_busy_workspace_answers_503_at_once_and_grants_nothing_later(
    service, engine
) -> None:
    """A reserve waits for the workspace lock only briefly, never past the
    caller's budget, and a refused reserve leaves no slot behind to be granted afterwards."""
    ws, rid = uuid.uuid4(), str(uuid.uuid4())
    await service.http.put(f"{service.ws(ws)}/plan", json={"plan": "starter"})
    async with engine.connect() as holder:
        await holder.begin()
        await holder.execute(
            text("SELECT 1 FROM billing_workspaces WHERE workspace_id = :ws FOR UPDATE"),
            {"ws": ws},
        )
        # The holder lets go after 3 s whatever happens, so an unbounded wait shows as a
        # slow grant here rather than as a hung test.
        release = asyncio.get_running_loop().call_later(
            3, lambda: asyncio.ensure_future(holder.rollback())
        )
        started = asyncio.get_running_loop().time()
        r = await service.http.post(f"{service.ws(ws)}/reservations", json={"reservation_id": rid})
        elapsed = asyncio.get_running_loop().time() - started
        c = await service.http.post(
            f"{service.ws(ws)}/reservations/{uuid.uuid4()}/confirm",
            json={"account_id": str(uuid.uuid4())},
        )
        release.cancel()
        await holder.rollback()
    assert r.status_code == 503, r.text
    assert elapsed < 1.5, elapsed
    assert r.headers["content-type"] == PROBLEM
    assert r.headers["retry-after"] == "1"
    assert r.json()["type"] == "urn:mooring:problem:workspace-busy"
    assert c.status_code == 503, c.text
    assert (await service.usage(ws))["reserved"] == 0
    assert (await service.http.get(f"{service.ws(ws)}/reservations/{rid}")).status_code == 404
    retried = await service.http.post(
        f"{service.ws(ws)}/reservations", json={"reservation_id": rid}
    )
    assert (retried.status_code, retried.json()["reservation_id"]) == (201, rid)


async def test_a_confirm_names_the_identity_once_and_another_account_conflicts(service) -> None:
    ws = uuid.uuid4()
    rid = (await service.http.post(f"{service.ws(ws)}/reservations", json={})).json()[
        "reservation_id"
    ]
    account = str(uuid.uuid4())
    path = f"{service.ws(ws)}/reservations/{rid}/confirm"
    first = await service.http.post(
        path, json={"account_id": account, "platform": "x", "platform_account_id": "9"}
    )
    assert first.status_code == 200, first.text
    retried = await service.http.post(path, json={"account_id": account})  # identity is kept
    assert retried.status_code == 200, retried.text
    other = await service.http.post(
        path, json={"account_id": str(uuid.uuid4()), "platform": "x", "platform_account_id": "8"}
    )
    assert other.status_code == 409
    assert (other.json()["state"], other.json()["account_id"]) == ("confirmed", account)
    assert (await service.usage(ws))["used"] == 2


async def test_after_a_downgrade_usage_and_the_402_name_the_same_upgrade(service) -> None:
    ws = uuid.uuid4()
    await service.http.put(f"{service.ws(ws)}/plan", json={"plan": "pro"})
    await service.connect_accounts(ws, 12)
    await service.http.put(f"{service.ws(ws)}/plan", json={"plan": "starter"})
    refused = await service.http.post(f"{service.ws(ws)}/reservations", json={})
    assert refused.status_code == 402
    assert refused.json()["upgrade_to"] == (await service.usage(ws))["upgrade_to"] == "pro"


async def test_a_downgrade_blocks_new_connects_but_removes_nothing(service) -> None:
    ws = uuid.uuid4()
    await service.http.put(f"{service.ws(ws)}/plan", json={"plan": "plus"})
    accounts = await service.connect_accounts(ws, 7)
    down = await service.http.put(f"{service.ws(ws)}/plan", json={"plan": "starter"})
    assert (down.json()["plan"], down.json()["limit"], down.json()["used"]) == ("starter", 5, 7)
    refused = await service.http.post(f"{service.ws(ws)}/reservations", json={})
    assert refused.status_code == 402
    assert (refused.json()["used"], refused.json()["upgrade_to"]) == (7, "plus")
    assert (await service.usage(ws))["used"] == 7

    # Reconnecting an account the workspace already has needs no slot, even over the cap.
    _, handle = accounts[0]
    params = {"platform": "bluesky", "platform_account_id": handle}
    early = await service.http.get(f"{service.ws(ws)}/decision", params=params)
    assert (early.status_code, early.json()["reason"]) == (200, "known_identity")
    r = await service.http.post(f"{service.ws(ws)}/reservations", json=params)
    assert r.status_code == 200, r.text
    assert (r.json()["reservation_id"], r.json()["status"]) == (None, "not_needed")
    assert (await service.usage(ws))["reserved"] == 0


async def test_fifty_concurrent_reservations_at_limit_minus_one_grant_exactly_one(service) -> None:
    ws = uuid.uuid4()
    await service.connect_accounts(ws, 4)
    answers = await asyncio.gather(
        *(
            service.http.post(
                f"{service.ws(ws)}/reservations",
                json={"platform": "x", "platform_account_id": f"user-{i}"},
            )
            for i in range(50)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 1, codes
    assert codes.count(402) == 49, codes
    usage = await service.usage(ws)
    assert (usage["used"], usage["reserved"]) == (4, 1)


async def test_two_replicas_share_one_cap(service, wait_until_ready) -> None:
    """The lock lives in PostgreSQL, not in a process: two app instances still grant one."""
    from billing_gate.main import create_app

    replica = create_app(service.settings)
    async with replica.router.lifespan_context(replica):
        await wait_until_ready(replica.state.runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=replica),
            base_url="http://replica",
            headers=dict(service.http.headers),
        ) as other:
            ws = uuid.uuid4()
            await service.connect_accounts(ws, 4)
            answers = await asyncio.gather(
                *(
                    (service.http if i % 2 else other).post(
                        f"{service.ws(ws)}/reservations", json={}
                    )
                    for i in range(50)
                )
            )
    assert sorted(a.status_code for a in answers).count(201) == 1


async def test_the_public_usage_read_takes_a_gateway_token_of_that_workspace(service) -> None:
    ws, other = uuid.uuid4(), uuid.uuid4()
    gateway = service.settings.gateway
    service_token = service.settings.service_tokens[0].get_secret_value()
    raw = httpx.AsyncClient(transport=service.http._transport, base_url="http://billing-gate")
    async with raw:
        for role in ("owner", "admin", "member"):  # reading usage is for every member
            token = issue_gateway_token(gateway, user_id="u1", workspace_id=ws, role=role)
            r = await raw.get(
                f"/v1/workspaces/{ws}/usage", headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 200, r.text
            assert r.json()["plan"] == "starter"
        foreign = issue_gateway_token(gateway, user_id="u2", workspace_id=other, role="owner")
        r = await raw.get(
            f"/v1/workspaces/{ws}/usage", headers={"Authorization": f"Bearer {foreign}"}
        )
        assert r.status_code == 404  # indistinguishable from a workspace that does not exist
        assert r.json()["type"] == "urn:mooring:problem:not-found"
        r = await raw.get(
            f"/v1/workspaces/{ws}/usage", headers={"Authorization": f"Bearer {service_token}"}
        )
        assert r.status_code == 401  # a service token is not a gateway token
        assert service_token not in r.text


async def test_half_an_identity_is_refused_in_the_query_and_in_the_body(service) -> None:
    ws = uuid.uuid4()
    q = await service.http.get(f"{service.ws(ws)}/decision", params={"platform": "x"})
    b = await service.http.post(f"{service.ws(ws)}/reservations", json={"platform_account_id": "1"})
    assert (q.status_code, b.status_code) == (422, 422)
    assert q.json()["type"] == b.json()["type"] == "urn:mooring:problem:validation-error"
