"""Per-platform limits on every HTTP request the checks make, retries included.

The limits sit in the transport under the shared platform client, not around adapter calls:
the client's retry policy may send one adapter call several times (a 5xx, a 429 with
Retry-After), and every one of those requests counts against the platform. Which platform a
request belongs to is the `PlatformGates.using(platform)` context of the task making it (the
worker sets it for each account it checks), so a refresh made through `refresh_account` on the
way is limited too.

A gate holds, for one platform in this process:
- a semaphore of `concurrency` requests in flight (held until the response body is read);
- an `aiolimiter.AsyncLimiter` of `rate_per_s` with a bucket of `burst` (1: evenly spaced);
- a pause until the end of the last `Retry-After` a 429 or 503 asked for, applied to every
  request of the platform, not only to the one that was told;
and, per use (one account's check), a budget of requests: the worker sets it when the platform
has a daily quota, having taken that many from what is left of the day's quota; a request past
it is refused before it leaves, and what the check did not spend goes back.

Per process is per replica set because a platform is worked by one replica at a time (the
worker's platform turns); see `service_layer/check_worker.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from aiolimiter import AsyncLimiter

from health_checker.config import PlatformLimit
from mooring.platforms.classify import parse_retry_after

__all__ = ["GateUse", "GatedTransport", "PlatformGate", "PlatformGates", "QuotaExhaustedError"]

_PAUSING_STATUSES = frozenset({429, 503})
_current: contextvars.ContextVar[GateUse | None] = contextvars.ContextVar(
    "health_checker_platform_gate", default=None
)


class QuotaExhaustedError(httpx.LocalProtocolError):
    """The check's share of the platform's daily quota is spent: the request was not sent.

    A `LocalProtocolError` so the retry policy never repeats it; classified as transient, so
    the account it was for keeps its status.
    """


@dataclass
class PlatformGate:
    platform: str
    limit: PlatformLimit
    on_wait: Callable[[str, float], None] = lambda _platform, _seconds: None
    sent: int = 0  # requests that left this process for the platform
    _paused_until: float = 0.0
    _limiter: AsyncLimiter = field(init=False, repr=False)
    _slots: asyncio.Semaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        burst = self.limit.burst
        self._limiter = AsyncLimiter(burst, time_period=burst / self.limit.rate_per_s)
        self._slots = asyncio.Semaphore(self.limit.concurrency)

    async def acquire(self) -> None:
        """Wait for a slot, the pause and the rate; then count the request as sent."""
        started = time.monotonic()
        waited = False
        await self._slots.acquire()
        try:
            while (pause := self._paused_until - time.monotonic()) > 0:
                waited = True
                await asyncio.sleep(pause)
            if not self._limiter.has_capacity():
                waited = True
            await self._limiter.acquire()
        except BaseException:
            self._slots.release()
            raise
        self.sent += 1
        if waited:
            self.on_wait(self.platform, time.monotonic() - started)

    def release(self) -> None:
        self._slots.release()

    def observe(self, response: httpx.Response) -> None:
        """A 429 or 503 with Retry-After pauses every request to the platform for that long."""
        if response.status_code not in _PAUSING_STATUSES:
            return
        delay = parse_retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
        if delay is not None:
            until = time.monotonic() + delay.total_seconds()
            self._paused_until = max(self._paused_until, until)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())


@dataclass
class GateUse:
    """One task's use of a gate: what it sent, and the most it may send (None: no cap)."""

    gate: PlatformGate
    budget: int | None = None
    sent: int = 0
    refused: bool = False


class PlatformGates:
    """One gate per platform, built inside the running event loop (`open`)."""

    def __init__(
        self,
        limits: Mapping[str, PlatformLimit],
        *,
        on_wait: Callable[[str, float], None] = lambda _platform, _seconds: None,
    ) -> None:
        self._limits = dict(limits)
        self._on_wait = on_wait
        self._gates: dict[str, PlatformGate] = {}

    def gate(self, platform: str) -> PlatformGate:
        gate = self._gates.get(platform)
        if gate is None:
            limit = self._limits.get(platform, PlatformLimit())
            gate = self._gates[platform] = PlatformGate(platform, limit, on_wait=self._on_wait)
        return gate

    @contextlib.contextmanager
    def using(self, platform: str, *, budget: int | None = None) -> Iterator[GateUse]:
        """Every request made in this context (this task) goes through `platform`'s gate, at
        most `budget` of them."""
        use = GateUse(self.gate(platform), budget=budget)
        token = _current.set(use)
        try:
            yield use
        finally:
            _current.reset(token)

    @property
    def total_concurrency(self) -> int:
        return sum(limit.concurrency for limit in self._limits.values())


class _ReleasingStream(httpx.AsyncByteStream):
    """Keeps the gate's slot until the body is read and closed."""

    def __init__(self, stream: httpx.AsyncByteStream, gate: PlatformGate) -> None:
        self._stream = stream
        self._gate: PlatformGate | None = gate

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._gate is not None:
                self._gate.release()
                self._gate = None


class GatedTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport; requests outside any gate's context pass untouched."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        use = _current.get()
        if use is None:
            return await self._inner.handle_async_request(request)
        if use.budget is not None and use.sent >= use.budget:
            use.refused = True
            raise QuotaExhaustedError(f"{use.gate.platform}: the check's quota share is spent")
        gate = use.gate
        await gate.acquire()
        use.sent += 1
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            gate.release()
            raise
        gate.observe(response)
        assert isinstance(response.stream, httpx.AsyncByteStream)  # noqa: S101 - async transport
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, gate),
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
