"""Bluesky identity: handle -> DID -> DID document -> PDS, app-password checks, XRPC answers.

The handle is resolved through the configured XRPC resolver (`resolveHandle`), never by
fetching the user-supplied host; a did:web document and the PDS named in any DID document are
user-controlled URLs, so both go through the SSRF guard before we connect.

An XRPC error answer carries a machine name (`error`) and a sentence (`message`, "Invalid
identifier or password", "Unable to resolve handle"); `xrpc_body` keeps both in the
classification's detail (redacted, bounded), so the person connecting and the operator reading
the logs see why, not an empty detail.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from mooring.logs import redact
from mooring.platforms.classify import response_json
from mooring.platforms.exceptions import AppPasswordRequiredError, InvalidInputError, error_for
from mooring.platforms.http import PlatformHttp, malformed, optional_str, require_str
from mooring.platforms.public_url import UrlGuard

__all__ = [
    "APP_PASSWORD_SCOPE",
    "check_app_password",
    "jwt_claims",
    "jwt_expiry",
    "normalise_handle",
    "resolve_pds",
    "xrpc_body",
]

# The scope a PDS puts in the access token of a session opened with an app password; a main
# password gives `com.atproto.access` (everything, account settings included) and a privileged
# app password `com.atproto.appPassPrivileged`.
APP_PASSWORD_SCOPE = "com.atproto.appPass"  # noqa: S105 - a scope name
_MAX_DETAIL = 200

_APP_PASSWORD = re.compile(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}")
_HANDLE = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]?")
_DID = re.compile(r"did:(plc|web):[a-zA-Z0-9._:%-]+")

HOW_TO_CREATE_ONE = (
    "Bluesky needs an App Password here, not your account password. Create one in Bluesky under "
    "Settings > Privacy and security > App passwords; it looks like xxxx-xxxx-xxxx-xxxx."
)


def check_app_password(value: str) -> None:
    """Refuse anything not shaped like an app password, before any network call.

    The message never repeats the input: it may be the user's main password.
    """
    if not _APP_PASSWORD.fullmatch(value):
        raise AppPasswordRequiredError("bluesky", "app_password_required", HOW_TO_CREATE_ONE)


def normalise_handle(value: str) -> str:
    handle = value.strip().removeprefix("@").lower()
    if _DID.fullmatch(value.strip()):
        return value.strip()
    if not _HANDLE.fullmatch(handle):
        raise InvalidInputError(
            "bluesky", "invalid_handle", "a Bluesky handle looks like name.bsky.social"
        )
    return handle


def jwt_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, read without verifying it (the PDS verifies; we only read what it says
    about itself: expiry and scope). Empty when the token is not a readable JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT, read without verifying it (the PDS verifies; we only schedule)."""
    exp = jwt_claims(token).get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return datetime.fromtimestamp(exp, tz=UTC)
    return None


def xrpc_body(http: PlatformHttp, response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a successful XRPC answer; otherwise the classified error, its detail
    naming the PDS's `error` and `message` (redacted: the message is the PDS's text, not ours)."""
    verdict = http.classify(response)
    if verdict.is_ok:
        return http.body(response)
    body = response_json(response)
    if isinstance(body, dict):
        said = ": ".join(str(part) for part in (body.get("error"), body.get("message")) if part)
        if said:
            detail = redact(said)[:_MAX_DETAIL]
            if verdict.detail and verdict.detail not in detail:
                detail = f"{detail} ({verdict.detail})"
            verdict = dataclasses.replace(verdict, detail=detail)
    raise error_for(http.platform, verdict)


def _pds_endpoint(document: dict[str, Any]) -> str | None:
    services = document.get("service")
    for service in services if isinstance(services, list) else []:
        if not isinstance(service, dict):
            continue
        if str(service.get("id", "")).endswith("#atproto_pds") and (
            service.get("type") == "AtprotoPersonalDataServer"
        ):
            return optional_str(service, "serviceEndpoint")
    return None


async def resolve_pds(
    http: PlatformHttp,
    guard: UrlGuard,
    *,
    identifier: str,
    resolver_base: str,
    plc_directory_base: str,
) -> tuple[str, str]:
    """(DID, PDS base URL) for a handle or DID."""
    if identifier.startswith("did:"):
        did = identifier
    else:
        response = await http.send(
            "GET",
            f"{resolver_base}/xrpc/com.atproto.identity.resolveHandle",
            params={"handle": identifier},
        )
        did = require_str(http.platform, xrpc_body(http, response), "did")
    if did.startswith("did:plc:"):
        document = await http.call("GET", f"{plc_directory_base}/{did}")
    elif did.startswith("did:web:"):
        host = did.removeprefix("did:web:").replace("%3A", ":")
        response = await guard.request(http, "GET", f"https://{host}/.well-known/did.json")
        document = http.body(response)
    else:
        raise malformed(http.platform, "unsupported DID method")
    endpoint = _pds_endpoint(document)
    if endpoint is None:
        raise malformed(http.platform, "the DID document names no PDS")
    checked = await guard.check(endpoint)
    return did, str(checked.url).rstrip("/")
