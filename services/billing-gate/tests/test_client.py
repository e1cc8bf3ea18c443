"""`mooring.billing.BillingClient`: every outcome typed, unavailability never raised."""

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
        assert await client.release(ws, other.reservation_id) == Released(other.reservation_id)
        usage = await client.set_plan(ws, "plus")
        assert not isinstance(usage, BillingUnavailable)
        assert (usage.plan, usage.limit, usage.used) == ("plus", 10, 1)
