"""Bluesky identity: handle -> DID -> DID document -> PDS, and app-password checks.

The handle is resolved through the configured XRPC resolver (`resolveHandle`), never by
fetching the user-supplied host; a did:web document and the PDS named in any DID document are
user-controlled URLs, so both go through the SSRF guard before we connect.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

from mooring.platforms.exceptions import AppPasswordRequiredError, InvalidInputError
from mooring.platforms.http import PlatformHttp, malformed, optional_str, require_str
from mooring.platforms.public_url import UrlGuard

__all__ = ["check_app_password", "jwt_expiry", "normalise_handle", "resolve_pds"]

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


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT, read without verifying it (the PDS verifies; we only schedule)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return datetime.fromtimestamp(exp, tz=UTC)
    return None


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
        body = await http.call(
            "GET",
            f"{resolver_base}/xrpc/com.atproto.identity.resolveHandle",
            params={"handle": identifier},
        )
        did = require_str(http.platform, body, "did")
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
