"""Small request/response helpers shared by the providers."""

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "basic_auth",
    "bearer",
    "body_params",
    "json_response",
    "params",
    "select_fields",
]


async def body_params(request: Request) -> dict[str, str]:
    """A form or JSON body as flat strings (python-multipart is not needed for urlencoded)."""
    raw = await request.body()
    if not raw:
        return {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): _flat(v) for k, v in data.items()}
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def _flat(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


async def params(request: Request) -> dict[str, str]:
    """Query parameters overlaid with body parameters (Graph endpoints accept either)."""
    merged = dict(request.query_params)
    if request.method in {"POST", "PUT", "DELETE"}:
        merged.update(await body_params(request))
    return merged


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    # Graph APIs also take the token as a query parameter.
    return request.query_params.get("access_token") or None


def basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse(data, status_code=status, headers=dict(headers) if headers else None)


def select_fields(
    data: Mapping[str, Any], fields_param: str | None, default: tuple[str, ...]
) -> dict[str, Any]:
    """Graph-API style `fields=`: only what was asked for (id always), absent keys left out."""
    wanted = [f.strip() for f in fields_param.split(",")] if fields_param else list(default)
    out: dict[str, Any] = {}
    for name in wanted:
        base = name.split("{", 1)[0].split(".", 1)[0]
        if base in data and data[base] is not None:
            out[base] = data[base]
    if "id" in data:
        out.setdefault("id", data["id"])
    return out
