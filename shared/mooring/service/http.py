"""The HTTP side every service shares: health, metrics, problem details, request timing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mooring.service.guard import RequestGuard
from mooring.service.openapi import describe_problems
from mooring.service.problems import PROBLEM_JSON, install_problem_handlers, problem_type
from mooring.service.runtime import ServiceRuntime
from mooring.service.tracing import instrument_app

__all__ = ["build_http_app"]


def build_http_app(
    runtime: ServiceRuntime[Any], *, title: str, routers: Sequence[APIRouter] = ()
) -> FastAPI:
    app = FastAPI(title=title, version="1", lifespan=runtime.lifespan)
    app.state.runtime = runtime
    install_problem_handlers(app)

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @app.get(
        "/health/ready",
        tags=["health"],
        response_model=None,
        responses={503: {"description": "Not ready: `checks` says which check failed."}},
    )
    async def ready() -> JSONResponse:
        readiness = await runtime.readiness()
        if readiness.ready:
            return JSONResponse({"status": "ready", "checks": readiness.checks})
        return JSONResponse(
            {
                "type": problem_type("not-ready"),
                "title": "Not ready",
                "status": 503,
                "checks": readiness.checks,
            },
            status_code=503,
            media_type=PROBLEM_JSON,
        )

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    settings = runtime.settings
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        gateway=settings.gateway,
        service_tokens=settings.service_tokens,
    )
    app.add_middleware(_Timing, runtime=runtime)  # outermost: it times refusals too

    for router in routers:
        app.include_router(router)
    describe_problems(app)
    instrument_app(app)
    return app


class _Timing:
    """Request latency by route template; plain ASGI (BaseHTTPMiddleware costs ~1 ms a call)."""

    def __init__(self, app: ASGIApp, runtime: ServiceRuntime[Any]) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.runtime.metrics.http.labels(
                self.runtime.name, scope["method"], route, str(status)
            ).observe(time.perf_counter() - started)
