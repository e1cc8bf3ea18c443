"""Gateway JWTs and service credentials, through a real FastAPI app in-process."""

import uuid
from datetime import timedelta
from typing import Annotated

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI
from pydantic import SecretStr

from mooring.service.auth import (
    GatewayJwtSettings,
    Principal,
    issue_gateway_token,
    service_credential,
    workspace_principal,
)
from mooring.service.problems import install_problem_handlers

SETTINGS = GatewayJwtSettings(secret=SecretStr("a-gateway-secret-that-is-long-enough"))
WS = uuid.uuid4()


def app(settings: GatewayJwtSettings = SETTINGS) -> FastAPI:
    api = FastAPI()
    install_problem_handlers(api)

    @api.get("/v1/workspaces/{workspace_id}/thing")
    async def read(
        p: Annotated[Principal, Depends(workspace_principal(settings))],
    ) -> dict[str, str]:
        return {"user": p.user_id, "role": p.role}

    @api.delete("/v1/workspaces/{workspace_id}/thing")
    async def manage(
        p: Annotated[Principal, Depends(workspace_principal(settings, manage=True))],
    ) -> dict[str, str]:
        return {"user": p.user_id}

    @api.get("/internal/thing", dependencies=[Depends(service_credential([SecretStr("svc-1")]))])
    async def internal() -> dict[str, str]:
        return {"ok": "yes"}

    return api


async def call(
    method: str, path: str, token: str | None, api: FastAPI | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=api or app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, headers=headers)


def token(role: str = "owner", workspace: uuid.UUID = WS, **kw) -> str:
    return issue_gateway_token(SETTINGS, user_id="u1", workspace_id=workspace, role=role, **kw)


async def test_a_valid_token_admits_its_workspace_and_names_the_caller() -> None:
    r = await call("GET", f"/v1/workspaces/{WS}/thing", token("member"))
    assert r.json() == {"user": "u1", "role": "member"}


async def test_another_workspace_is_404_and_members_cannot_manage() -> None:
    r = await call("GET", f"/v1/workspaces/{uuid.uuid4()}/thing", token())
    assert r.status_code == 404
    r = await call("DELETE", f"/v1/workspaces/{WS}/thing", token("member"))
    assert r.status_code == 403
    assert r.json()["type"] == "urn:mooring:problem:forbidden"
    assert (await call("DELETE", f"/v1/workspaces/{WS}/thing", token("admin"))).status_code == 200


@pytest.mark.parametrize(
    ("bad", "detail"),
    [
        (None, "required"),
        ("not-a-jwt", "not valid"),
        (lambda: token(ttl=timedelta(seconds=-120)), "expired"),
        (
            lambda: jwt.encode(
                {
                    "sub": "u",
                    "workspace_id": str(WS),
                    "role": "owner",
                    "iss": "mooring-gateway",
                    "aud": "mooring",
                    "exp": 9999999999,
                },
                "some-other-secret-of-sufficient-length",
                algorithm="HS256",
            ),
            "InvalidSignatureError",
        ),
        (lambda: token(role="superuser"), "no valid role"),
    ],
)
async def test_bad_tokens_get_401_saying_why_without_echoing_them(bad, detail: str) -> None:
    presented = bad() if callable(bad) else bad
    r = await call("GET", f"/v1/workspaces/{WS}/thing", presented)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert detail in r.json()["detail"]
    if presented:
        assert presented not in r.text


async def test_without_a_configured_key_nobody_is_admitted() -> None:
    r = await call("GET", f"/v1/workspaces/{WS}/thing", token(), api=app(GatewayJwtSettings()))
    assert r.status_code == 401
    assert "no gateway key" in r.json()["detail"]


async def test_internal_routes_take_a_service_token_not_a_gateway_token() -> None:
    assert (await call("GET", "/internal/thing", "svc-1")).status_code == 200
    assert (await call("GET", "/internal/thing", token())).status_code == 401
    assert (await call("GET", "/internal/thing", None)).status_code == 401
