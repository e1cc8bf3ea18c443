"""RFC 9457 problem details with stable `type` URIs, and the handlers that render them.

Validation errors name the field and the rule, never echo the input (it may be a token or a
password someone pasted into the wrong field).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

__all__ = ["PROBLEM_JSON", "Problem", "install_problem_handlers", "problem_type"]

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger(__name__)

_STATUS_SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    422: "validation-error",
    429: "rate-limited",
    503: "unavailable",
}


def problem_type(slug: str) -> str:
    return f"urn:mooring:problem:{slug}"


class Problem(Exception):  # noqa: N818 - it is what RFC 9457 calls it
    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": problem_type(self.slug),
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        if self.status == 422 and "errors" not in body:  # noqa: PLR2004
            # Every 422 lists what is wrong, so clients read one shape for all of them.
            body["errors"] = [{"location": "", "message": self.detail or self.title}]
        return body


def _response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route answers on this path (routers nest: each is asked in full)."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in app.router.routes
        )
    ]


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)  # noqa: S101 - registered for Problem only
        return _response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        problem = Problem(
            422, "validation-error", "The request is not valid", f"{len(errors)} problem(s)",
            errors=errors,
        )  # fmt: skip
        return _response(problem, request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        slug = _STATUS_SLUGS.get(exc.status_code, f"http-{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # noqa: PLR2004
            # Starlette names the methods of the first route matching the path only; FastAPI
            # makes one route per method, so the answer would hide the others.
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        problem = Problem(exc.status_code, slug, detail or slug.replace("-", " ").capitalize(),
                          headers=headers)  # fmt: skip
        return _response(problem, request)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        return _response(Problem(500, "internal-error", "Internal error"), request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
