"""The per-platform gate under the shared client: concurrency, rate, the Retry-After pause and
the per-check budget apply to every request sent, retries included (no network: a mock
transport that records when each request arrived)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from health_checker.adapters.gate import GatedTransport, PlatformGates, QuotaExhaustedError
from health_checker.config import PlatformLimit


class Recorder:
    def __init__(self, delay: float = 0.0, statuses: list[int] | None = None) -> None:
        self.delay = delay
        self.statuses = statuses or []
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        status = self.statuses.pop(0) if self.statuses else 200
        headers = {"retry-after": "1"} if status == 429 else {}
        return httpx.Response(status, json={}, headers=headers)


def client(recorder: Recorder) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=GatedTransport(httpx.MockTransport(recorder)))


async def test_requests_are_spaced_at_the_rate() -> None:
    recorder = Recorder()
    gates = PlatformGates({"x": PlatformLimit(concurrency=10, rate_per_s=20.0)})
    async with client(recorder) as http:

        async def one() -> None:
            with gates.using("x"):
                await http.get("https://x.test/")

        await asyncio.gather(*(one() for _ in range(11)))
    gaps = [b - a for a, b in zip(recorder.arrivals, recorder.arrivals[1:], strict=False)]
    # 20/s with a bucket of one: at least 50 ms between two requests (timer slack allowed)
    assert min(gaps) >= 0.045
    assert recorder.arrivals[-1] - recorder.arrivals[0] >= 0.49
    assert gates.gate("x").sent == 11


async def test_concurrency_is_capped_until_each_body_is_read() -> None:
    recorder = Recorder(delay=0.05)
    gates = PlatformGates({"x": PlatformLimit(concurrency=3, rate_per_s=10_000.0)})
    async with client(recorder) as http:

        async def one() -> None:
            with gates.using("x"):
                response = await http.get("https://x.test/")
                assert response.status_code == 200

        await asyncio.gather(*(one() for _ in range(12)))
    assert recorder.most_in_flight == 3


async def test_a_429_pauses_every_request_to_the_platform_and_is_counted_as_a_wait() -> None:
    recorder = Recorder(statuses=[429])
    waits: list[tuple[str, float]] = []
    gates = PlatformGates(
        {"x": PlatformLimit(concurrency=1, rate_per_s=10_000.0)},
        on_wait=lambda platform, seconds: waits.append((platform, seconds)),
    )
    async with client(recorder) as http:
        with gates.using("x"):
            assert (await http.get("https://x.test/")).status_code == 429
            assert (await http.get("https://x.test/")).status_code == 200
    assert recorder.arrivals[1] - recorder.arrivals[0] >= 0.95
    assert waits
    assert waits[0][0] == "x"
    assert waits[0][1] >= 0.9


async def test_a_budget_refuses_requests_past_it_before_they_leave() -> None:
    recorder = Recorder()
    gates = PlatformGates({"youtube": PlatformLimit(daily_quota=100)})
    async with client(recorder) as http:
        with gates.using("youtube", budget=2) as use:
            await http.get("https://yt.test/")
            await http.get("https://yt.test/")
            with pytest.raises(QuotaExhaustedError):
                await http.get("https://yt.test/")
    assert (use.sent, use.refused, len(recorder.arrivals)) == (2, True, 2)


async def test_requests_outside_a_gate_pass_untouched() -> None:
    recorder = Recorder()
    gates = PlatformGates({"x": PlatformLimit(concurrency=1, rate_per_s=1.0)})
    async with client(recorder) as http:
        await asyncio.gather(*(http.get("https://x.test/") for _ in range(5)))
    assert len(recorder.arrivals) == 5
    assert gates.gate("x").sent == 0
