"""Bodies are refused before they are read: over the limit (413) or unauthenticated (401).

A real uvicorn server on loopback (its lifespan off: no broker or database needed), driven with
raw sockets, so "not read" means what it says: the server answers before the client sent the body.
"""

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import APIRouter
from pydantic import BaseModel, SecretStr

from mooring.service.auth import GatewayJwtSettings, issue_gateway_token
from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime
from mooring.service.settings import ServiceSettings

GATEWAY = GatewayJwtSettings(secret=SecretStr("guard-test-secret-of-at-least-32-bytes"))
WS = uuid.UUID("8d1f5c2e-5f54-4a6e-9c1e-3b1f0d2a7c11")
OTHER_WS = uuid.UUID("1b0e7e1c-26a4-4d7f-8d55-0c9e3e5a2f90")  # fixed: test ids must be stable
SERVICE_TOKEN = "guard-service-token"
LIMIT = 4096


class Thing(BaseModel):
    name: str


def app_under_test(calls: list[str]):
    settings = ServiceSettings(
        gateway=GATEWAY, service_tokens=[SecretStr(SERVICE_TOKEN)], max_body_bytes=LIMIT
    )
    router = APIRouter()

    @router.post("/v1/workspaces/{workspace_id}/things")
    async def public(workspace_id: uuid.UUID, thing: Thing) -> dict[str, str]:
        calls.append(thing.name[:10])
        return {"ok": str(workspace_id)}

    @router.post("/internal/v1/things")
    async def internal(thing: Thing) -> dict[str, str]:
        calls.append(thing.name[:10])
        return {"ok": "internal"}

    return build_http_app(ServiceRuntime("guard-test", settings), title="t", routers=[router])


@contextlib.asynccontextmanager
async def serving(calls: list[str]) -> AsyncIterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app_under_test(calls), port=port, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


def token(workspace: uuid.UUID = WS) -> str:
    return issue_gateway_token(GATEWAY, user_id="u", workspace_id=workspace, role="owner")


async def head_only(port: int, path: str, length: int, authorization: str | None) -> bytes:
    """Send the request line and headers of a `length`-byte body, none of the body; the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"POST {path} HTTP/1.1", "Host: t", "Content-Type: application/json",
             f"Content-Length: {length}"]  # fmt: skip
    if authorization:
        lines.append(f"Authorization: {authorization}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("path", "authorization", "status", "problem"),
    [
        (f"/v1/workspaces/{WS}/things", None, 401, "unauthenticated"),
        (f"/v1/workspaces/{WS}/things", "Bearer forged.token.here", 401, "unauthenticated"),
        (f"/v1/workspaces/{OTHER_WS}/things", "GOOD", 404, "not-found"),
        ("/internal/v1/things", "Bearer wrong", 401, "unauthenticated"),
        (f"/v1/workspaces/{WS}/things", "GOOD", 413, "payload-too-large"),
        ("/internal/v1/things", f"Bearer {SERVICE_TOKEN}", 413, "payload-too-large"),
    ],
)
async def test_a_100_mb_body_is_refused_from_its_headers_alone(
    path: str, authorization: str | None, status: int, problem: str
) -> None:
    calls: list[str] = []
    if authorization == "GOOD":
        authorization = f"Bearer {token()}"
    async with serving(calls) as port:
        answer = await head_only(port, path, 100 * 1024 * 1024, authorization)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:80]
    assert b"application/problem+json" in answer
    assert f"urn:mooring:problem:{problem}".encode() in answer
    assert calls == []


async def test_a_streamed_body_is_cut_at_the_limit_and_a_small_one_goes_through() -> None:
    calls: list[str] = []
    async with serving(calls) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            (
                f"POST /v1/workspaces/{WS}/things HTTP/1.1\r\nHost: t\r\n"
                f"Authorization: Bearer {token()}\r\nTransfer-Encoding: chunked\r\n"
                "Content-Type: application/json\r\n\r\n"
            ).encode()
        )
        chunk = b"x" * 1024
        for _ in range(8):  # 8 KiB against a 4 KiB limit, never finished
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 5)
        writer.close()
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            small = await http.post(
                f"/v1/workspaces/{WS}/things",
                json={"name": "fits"},
                headers={"Authorization": f"Bearer {token()}"},
            )
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert small.status_code == 200
    assert calls == ["fits"]


async def test_a_wrong_method_names_every_method_the_path_has_and_422_lists_errors() -> None:
    import httpx

    calls: list[str] = []
    async with (
        serving(calls) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        wrong = await http.get(
            f"/v1/workspaces/{WS}/things", headers={"Authorization": f"Bearer {token()}"}
        )
        invalid = await http.post(
            f"/v1/workspaces/{WS}/things",
            json={"name": 3},
            headers={"Authorization": f"Bearer {token()}"},
        )
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["location"] == "body.name"
