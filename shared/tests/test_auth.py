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


def _rsa_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _pems(key, serialization)


def _ec_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return _pems(ec.generate_private_key(ec.SECP256R1()), serialization)


def _pems(key, serialization) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _signed(private: str, algorithm: str, **claims) -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    body = {
        "sub": "u9", "workspace_id": str(WS), "role": "admin", "iss": "mooring-gateway",
        "aud": "mooring", "iat": now, "exp": now + timedelta(minutes=5),
    } | claims  # fmt: skip
    return jwt.encode(body, private, algorithm=algorithm)


@pytest.mark.parametrize(("pair", "algorithm"), [(_rsa_pair, "RS256"), (_ec_pair, "ES256")])
async def test_tokens_signed_with_a_real_private_key_are_verified_with_its_public_key(
    pair, algorithm: str
) -> None:
    private, public = pair()
    settings = GatewayJwtSettings(public_key=public, algorithms=[algorithm])
    ok = await call("GET", f"/v1/workspaces/{WS}/thing", _signed(private, algorithm), app(settings))
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"user": "u9", "role": "admin"}
    other_private, _ = pair()  # a key the gateway does not hold
    forged = await call(
        "GET", f"/v1/workspaces/{WS}/thing", _signed(other_private, algorithm), app(settings)
    )
    assert forged.status_code == 401
    assert forged.json()["detail"] == "The token is not valid: InvalidSignatureError."


def test_settings_refuse_an_algorithm_that_does_not_fit_the_key() -> None:
    from pydantic import ValidationError

    _, rsa_public = _rsa_pair()
    _, ec_public = _ec_pair()
    with pytest.raises(ValidationError, match="HS256 do not fit this public key"):
        GatewayJwtSettings(public_key=rsa_public, algorithms=["HS256"])
    with pytest.raises(ValidationError, match="RS256 do not fit this public key; use ES256"):
        GatewayJwtSettings(public_key=ec_public, algorithms=["RS256"])
    with pytest.raises(ValidationError, match="RS256 do not fit a shared secret"):
        GatewayJwtSettings(secret=SecretStr("x" * 40), algorithms=["RS256"])
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        GatewayJwtSettings(secret=SecretStr("short"))
    with pytest.raises(ValidationError, match="not a PEM public key"):
        GatewayJwtSettings(public_key="-----BEGIN PUBLIC KEY-----\nnope\n", algorithms=["RS256"])
    with pytest.raises(ValidationError, match="not both"):
        GatewayJwtSettings(secret=SecretStr("x" * 40), public_key=rsa_public)
    assert GatewayJwtSettings(public_key=rsa_public, algorithms=["RS256", "PS256"])
