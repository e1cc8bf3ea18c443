"""Refuse before reading: oversized bodies get 413, unauthenticated callers 401, bodies unread.

FastAPI reads and parses a request's body before the route's dependencies run, so an
authentication dependency alone lets anyone make a service read and parse a 100 MB body (it did:
201 MB to 442 MB for one unauthenticated request). This ASGI middleware, in front of every
service, checks the credentials protected paths need from the headers first (the route's
dependencies still check roles), then refuses a declared Content-Length over the limit at once
and cuts a streamed body the moment it passes the limit.

Protected paths: `/internal/...` (a service token) and `/v1/workspaces/{id}/...` (a gateway
JWT for that workspace: another workspace's token gets 404, as in the routes).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mooring.service.auth import (
    GatewayJwtSettings,
    authenticate_gateway,
    service_token_matches,
    service_token_problem,
)
from mooring.service.problems import PROBLEM_JSON, Problem

__all__ = ["RequestGuard", "body_too_large"]

_WORKSPACES = "/v1/workspaces/"


def body_too_large(limit: int) -> Problem:
    return Problem(
        413,
        "payload-too-large",
        "Request body too large",
        f"The request body must not exceed {limit} bytes.",
    )


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        gateway: GatewayJwtSettings,
        service_tokens: Sequence[SecretStr],
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.gateway = gateway
        self.service_tokens = list(service_tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._authenticate(scope["path"], headers.get("authorization", ""))
        if refusal is None:
            refusal = self._declared_length(headers.get("content-length"))
        if refusal is not None:
            await _respond(refusal, scope, send)
            return
        await self._guarded(scope, receive, send)

    def _authenticate(self, path: str, authorization: str) -> Problem | None:
        scheme, _, token = authorization.partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else ""
        if path.startswith("/internal/"):
            matched = service_token_matches(self.service_tokens, bearer)
            return None if matched else service_token_problem()
        if path.startswith(_WORKSPACES):
            return self._workspace_caller(path, bearer)
        return None

    def _workspace_caller(self, path: str, bearer: str) -> Problem | None:
        if not bearer:
            return Problem(
                401, "unauthenticated", "Authentication required",
                "A gateway bearer token is required.",
                headers={"WWW-Authenticate": 'Bearer realm="mooring"'},
            )  # fmt: skip
        try:
            principal = authenticate_gateway(self.gateway, bearer)
        except Problem as problem:
            return problem
        segment = path[len(_WORKSPACES) :].split("/", 1)[0]
        try:
            workspace_id = uuid.UUID(segment)
        except ValueError:
            return None  # the route refuses the malformed id
        return (
            None
            if workspace_id == principal.workspace_id
            else Problem(404, "not-found", "Not found")
        )

    def _declared_length(self, value: str | None) -> Problem | None:
        if value is None:
            return None
        if not value.strip().isdigit():
            return Problem(400, "bad-request", "Bad request", "Content-Length is not a number.")
        if int(value) > self.max_body_bytes:
            return body_too_large(self.max_body_bytes)
        return None

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes and not started:
                    # Answer now and tell the app the client left: it stops reading, and
                    # whatever it answers to that is dropped (the client has its 413).
                    refused = True
                    await _respond(body_too_large(self.max_body_bytes), scope, send)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, tracking_send)


async def _respond(problem: Problem, scope: Scope, send: Send) -> None:
    body = json.dumps(problem.body(instance=scope.get("path"))).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the unread rest of the body is not drained
        *((k.lower().encode(), v.encode()) for k, v in problem.headers.items()),
    ]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
