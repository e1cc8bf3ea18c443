"""Fakes for the adapters' ports, shipped next to them: an `httpx.MockTransport` that records,
a resolver that answers from a table (no DNS traffic in tests), and a clock you can move."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from mooring.platforms.http import new_http_client
from mooring.platforms.settings import HttpSettings

__all__ = ["FakeResolver", "ManualClock", "Recorder", "form_of", "json_response"]

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Recorder:
    """Answers with `handler` and keeps every request it saw."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def client(self, settings: HttpSettings | None = None) -> httpx.AsyncClient:
        """A client answering from `handler`; with `settings`, it keeps their retry policy."""
        if settings is None:
            return httpx.AsyncClient(transport=httpx.MockTransport(self))
        return new_http_client(settings, transport=httpx.MockTransport(self))

    @property
    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]


def json_response(
    status: int, body: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(httpx.QueryParams(request.content.decode()))


@dataclass
class FakeResolver:
    answers: dict[str, Sequence[str]]
    asked: list[str] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> Sequence[str]:  # noqa: ARG002
        self.asked.append(host)
        if host not in self.answers:
            raise OSError("no such host")
        return self.answers[host]


@dataclass
class ManualClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
