"""The retry rules against the real simulator, on both transports: its control API makes X
answer 5xx, 429 with Retry-After, hang or slow down, and counts every call it got."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from mooring.platforms import (
    PlatformSettings,
    PlatformUnavailableError,
    TokenSet,
    get_adapter,
    new_http_client,
)
from mooring.platforms.simulator import simulator_settings
from mooring.platforms.testing import ManualClock

TOKEN_PATH = "/2/oauth2/token"
ME_PATH = "/2/users/me"


class Sim:
    def __init__(self, url: str) -> None:
        self.url = url

    def control(self, path: str, body: object) -> dict:
        response = httpx.post(f"{self.url}/_control{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    def fault(self, path: str, kind: str, **fields: object) -> None:
        self.control("/faults", {"platform": "x", "path": path, "kind": kind, **fields})

    def calls(self, path: str) -> int:
        counts = httpx.get(f"{self.url}/_control/calls?platform=x", timeout=5).json()
        return counts.get("x", {}).get(f"/x{path}", 0)

    def tokens(self) -> TokenSet:
        issued = self.control(
            "/tokens/issue", {"platform": "x", "user": "retry", "client_id": "mooring-dev"}
        )["tokens"][0]
        return TokenSet(
            access_token=SecretStr(issued["access_token"]),
            refresh_token=SecretStr(issued["refresh_token"]),
            issued_at=ManualClock().now,
        )


@pytest.fixture
def sim(sim_url: str) -> Sim:
    sim = Sim(sim_url)
    sim.control("/reset", {})
    return sim


@pytest.fixture(params=["aiohttp", "httpx"])
def settings(request, sim_url: str) -> PlatformSettings:
    base = simulator_settings(sim_url)
    http = base.http.model_copy(
        update={
            "transport": request.param,
            "timeout_seconds": 0.5,
            "retry_wait_initial_seconds": 0.01,
            "retry_wait_jitter_seconds": 0.01,
        }
    )
    return base.model_copy(update={"http": http})


@pytest.fixture
async def x(settings):
    async with new_http_client(settings.http) as client:
        yield get_adapter("x", settings, client)


async def test_a_get_answered_5xx_is_retried_until_it_works(sim, x):
    tokens = sim.tokens()
    sim.fault(ME_PATH, "error", status=500, times=2)
    assert (await x.verify(tokens)).is_ok
    assert sim.calls(ME_PATH) == 3


# The policy sits above the transport: waiting out a Retry-After is tested on the default one.
@pytest.mark.parametrize("settings", ["aiohttp"], indirect=True)
async def test_a_get_waits_for_a_short_retry_after(sim, x):
    tokens = sim.tokens()
    sim.fault(ME_PATH, "rate_limit", retry_after=1, times=1)
    started = asyncio.get_running_loop().time()
    assert (await x.verify(tokens)).is_ok
    assert asyncio.get_running_loop().time() - started >= 0.95
    assert sim.calls(ME_PATH) == 2


@pytest.mark.parametrize("settings", ["aiohttp"], indirect=True)
@pytest.mark.parametrize(("kind", "status"), [("rate_limit", 429), ("error", 503)])
async def test_a_refresh_is_retried_when_the_platform_says_when(sim, x, kind, status):
    tokens = sim.tokens()
    sim.fault(TOKEN_PATH, kind, status=status, retry_after=1, times=1)
    fresh = await x.refresh(tokens)
    assert fresh.refresh_token.get_secret_value() != tokens.refresh_token.get_secret_value()
    assert sim.calls(TOKEN_PATH) == 2


async def test_a_refresh_answered_500_is_not_retried_and_the_token_survives(sim, x):
    tokens = sim.tokens()
    sim.fault(TOKEN_PATH, "error", status=500, times=1)
    with pytest.raises(PlatformUnavailableError) as caught:
        await x.refresh(tokens)
    assert caught.value.classification.reason == "http_500"
    assert sim.calls(TOKEN_PATH) == 1
    assert await x.refresh(tokens)


async def test_a_refresh_with_a_retry_after_past_the_budget_is_handed_back_at_once(sim, x):
    tokens = sim.tokens()
    sim.fault(TOKEN_PATH, "error", status=503, retry_after=120, times=1)
    with pytest.raises(PlatformUnavailableError) as caught:
        await x.refresh(tokens)
    assert caught.value.retry_after == timedelta(seconds=120)
    assert sim.calls(TOKEN_PATH) == 1


async def test_a_refresh_that_hangs_is_not_sent_again(sim, x):
    tokens = sim.tokens()
    sim.fault(TOKEN_PATH, "hang", seconds=3, times=5)
    with pytest.raises(PlatformUnavailableError) as caught:
        await x.refresh(tokens)
    assert caught.value.classification.reason == "timeout"
    assert sim.calls(TOKEN_PATH) == 1


async def test_a_slow_refresh_that_timed_out_is_not_sent_again(sim, x):
    tokens = sim.tokens()
    sim.fault(TOKEN_PATH, "latency", seconds=1, times=1)
    with pytest.raises(PlatformUnavailableError) as caught:
        await x.refresh(tokens)
    assert caught.value.classification.reason == "timeout"
    assert sim.calls(TOKEN_PATH) == 1
