"""The HTTP side every service shares: health, metrics, problem details, request timing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mooring.service.problems import PROBLEM_JSON, install_problem_handlers, problem_type
from mooring.service.runtime import ServiceRuntime

__all__ = ["build_http_app"]


def build_http_app(
    runtime: ServiceRuntime, *, title: str, routers: Sequence[APIRouter] = ()
) -> FastAPI:
    app = FastAPI(title=title, version="1", lifespan=runtime.lifespan)
    app.state.runtime = runtime
    install_problem_handlers(app)

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/ready", tags=["health"], response_model=None)
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

    @app.middleware("http")
    async def timing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        runtime.metrics.http.labels(
            runtime.name, request.method, template, str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response

    for router in routers:
        app.include_router(router)
    return app
