"""`mooring.billing.BillingClient`: every outcome typed, unavailability never raised."""

import asyncio
import json
import time
import uuid

import httpx
import pytest
from pydantic import SecretStr

from mooring.billing import (
    Allowed,
    BillingClient,
    BillingClientSettings,
    BillingRequestError,
    BillingUnavailable,
    PlanLimitReached,
    Released,
)

SETTINGS = BillingClientSettings(
    base_url="http://billing-gate", timeout_s=0.2, service_token=SecretStr("t"), retry_after_s=7
)


def client_for(handler) -> BillingClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://billing-gate")
    return BillingClient(SETTINGS, http=http)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
    ],
)
async def test_timeouts_and_connection_errors_are_unavailable(failure: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    answer = await client_for(handler).reserve(uuid.uuid4())
    assert isinstance(answer, BillingUnavailable)
    assert answer.retry_after_s == 7


async def test_the_timeout_is_a_budget_for_the_whole_request() -> None:
    """httpx's timeout is per phase; a server that answers slowly but steadily must still be
    cut off at `timeout_s` overall."""

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1.0)
        return httpx.Response(200, json={"reason": "within_limit", "plan": "starter",
                                         "limit": 5, "used": 0, "reserved": 0})  # fmt: skip

    started = time.monotonic()
    answer = await client_for(slow).check(uuid.uuid4())
    assert isinstance(answer, BillingUnavailable), answer
    assert answer.reason == "timeout"
    assert time.monotonic() - started < 0.6


async def test_a_reserve_that_got_no_answer_names_its_reservation_to_retry_or_release() -> None:
    sent: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        raise httpx.ReadTimeout("slow")

    client = client_for(handler)
    answer = await client.reserve(uuid.uuid4(), "x", "42")
    assert isinstance(answer, BillingUnavailable)
    assert answer.reservation_id is not None
    assert sent[0]["reservation_id"] == str(answer.reservation_id)
    mine = uuid.uuid4()
    answer = await client.reserve(uuid.uuid4(), reservation_id=mine)
    assert isinstance(answer, BillingUnavailable)
    assert answer.reservation_id == mine == uuid.UUID(str(sent[1]["reservation_id"]))


async def test_half_an_identity_is_a_callers_bug_not_a_silent_drop() -> None:
    client = client_for(lambda r: httpx.Response(500))
    with pytest.raises(ValueError, match="together"):
        await client.check(uuid.uuid4(), "x")
    with pytest.raises(ValueError, match="together"):
        await client.reserve(uuid.uuid4(), platform_account_id="42")
    with pytest.raises(ValueError, match="together"):
        await client.confirm(uuid.uuid4(), uuid.uuid4(), account_id=uuid.uuid4(), platform="x")


async def test_5xx_is_unavailable_and_keeps_the_servers_retry_after() -> None:
    answer = await client_for(lambda r: httpx.Response(503, headers={"Retry-After": "3"})).check(
        uuid.uuid4()
    )
    assert answer == BillingUnavailable("billing-gate answered 503", 3)
    answer = await client_for(lambda r: httpx.Response(500)).check(uuid.uuid4())
    assert isinstance(answer, BillingUnavailable)
    assert answer.retry_after_s == 7


async def test_the_token_is_sent_and_402_is_a_typed_refusal() -> None:
    seen: list[httpx.Request] = []
    problem = {
        "type": "urn:mooring:problem:plan-limit-reached",
        "title": "Plan limit reached",
        "status": 402,
        "plan": "starter",
        "limit": 5,
        "used": 5,
        "reserved": 0,
        "upgrade_to": "plus",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(402, json=problem)

    answer = await client_for(handler).reserve(uuid.uuid4(), "x", "42")
    assert answer == PlanLimitReached("starter", 5, 5, 0, "plus", problem)
    assert seen[0].headers["authorization"] == "Bearer t"


async def test_a_request_retrying_cannot_fix_raises() -> None:
    client = client_for(lambda r: httpx.Response(401, json={"type": "urn:x"}))
    with pytest.raises(BillingRequestError) as err:
        await client.reserve(uuid.uuid4())
    assert err.value.status == 401


async def test_against_the_running_service(service) -> None:
    http = httpx.AsyncClient(transport=service.http._transport, base_url="http://billing-gate")
    settings = BillingClientSettings(service_token=SecretStr("test-service-token"))
    async with BillingClient(settings, http=http) as client, http:
        ws = uuid.uuid4()
        early = await client.check(ws, "x", "1")
        assert isinstance(early, Allowed)
        assert early.reservation_id is None
        held = await client.reserve(ws, "x", "1")
        assert isinstance(held, Allowed)
        assert held.reservation_id is not None
        account = uuid.uuid4()
        status = await client.confirm(ws, held.reservation_id, account_id=account)
        assert not isinstance(status, BillingUnavailable)
        assert (status.status, status.account_id) == ("confirmed", account)
        reconnect = await client.reserve(ws, "x", "1")
        assert isinstance(reconnect, Allowed)
        assert reconnect.reason == "known_identity"
        other = await client.reserve(ws)
        assert isinstance(other, Allowed)
        assert other.reservation_id is not None
        retried = await client.reserve(ws, reservation_id=other.reservation_id)
        assert isinstance(retried, Allowed)
        assert retried.reservation_id == other.reservation_id
        assert await client.release(ws, other.reservation_id) == Released(other.reservation_id)
        usage = await client.set_plan(ws, "plus")
        assert not isinstance(usage, BillingUnavailable)
        assert (usage.plan, usage.limit, usage.used) == ("plus", 10, 1)
