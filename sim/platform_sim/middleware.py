"""The ASGI layer in front of every provider: call counting and injected faults."""

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platform_sim.faults import FaultKind, FaultRule, fault_body
from platform_sim.state import SimState

__all__ = ["FaultMiddleware"]

MAX_HANG_SECONDS = 300.0


async def _hold(seconds: float, receive: Receive) -> bool:
    """Sleep up to `seconds`; return early (True) when the client goes away."""

    async def until_disconnect() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    try:
        await asyncio.wait_for(until_disconnect(), timeout=seconds)
    except TimeoutError:
        return False
    return True


class FaultMiddleware:
    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/_control"):
            await self.app(scope, receive, send)
            return
        book = self.state.faults
        platform = path.split("/", 2)[1] if path.count("/") >= 1 else ""
        book.count(platform, path)
        self.state.timeline.count(platform)
        delay, rule = book.match(scope["method"], path)
        if delay:
            await asyncio.sleep(delay)
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.kind is FaultKind.HANG:
            seconds = min(rule.seconds or self.state.config.hang_seconds, MAX_HANG_SECONDS)
            if await _hold(seconds, receive):
                return
            await _send(send, 504, fault_body(platform, 504), [])
            return
        status, headers = self._answer(rule, platform)
        await _send(send, status, fault_body(platform, status), headers)

    def _answer(self, rule: FaultRule, platform: str) -> tuple[int, list[tuple[bytes, bytes]]]:
        headers: list[tuple[bytes, bytes]] = []
        if rule.kind is not FaultKind.RATE_LIMIT:
            if rule.status in {502, 503}:
                headers.append((b"retry-after", str(rule.retry_after).encode()))
            return rule.status, headers
        headers.append((b"retry-after", str(rule.retry_after).encode()))
        reset = str(int(time.time() + self.state.clock.offset) + rule.retry_after).encode()
        if platform == "x":
            headers += [(b"x-rate-limit-remaining", b"0"), (b"x-rate-limit-reset", reset)]
        elif platform == "bluesky":
            headers += [(b"ratelimit-remaining", b"0"), (b"ratelimit-reset", reset)]
        return 429, headers


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})
