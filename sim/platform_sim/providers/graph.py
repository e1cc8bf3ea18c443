"""What the three Meta Graph APIs (Facebook, Instagram, Threads) share: the error shape and the
optional `/vNN.N` version segment."""

import re
import secrets
import time
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from platform_sim.store import TokenStatus
from platform_sim.web import json_response

__all__ = ["REDIRECT_MISMATCH", "StripGraphVersion", "dead_token", "meta_error"]

REDIRECT_MISMATCH = (
    "Error validating verification code. Please make sure your redirect_uri is identical "
    "to the one you used in the OAuth dialog request"
)

_VERSION = re.compile(r"^/v\d+(\.\d+)?(?=/|$)")


class StripGraphVersion:
    """Serve `/v25.0/me` and `/me` alike: adapters pin different Graph versions."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root: str = scope.get("root_path", "")
            rest: str = scope["path"][len(root) :]
            match = _VERSION.match(rest)
            if match:
                scope = {**scope, "path": root + (rest[match.end() :] or "/")}
        await self.app(scope, receive, send)


def meta_error(
    message: str,
    code: int,
    subcode: int | None = None,
    status: int = 400,
    error_type: str = "OAuthException",
) -> Response:
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = secrets.token_urlsafe(12)
    return json_response({"error": error}, status)


def dead_token(status: TokenStatus) -> Response:
    """Code 190 is Meta's "get a new token"; the subcode tells expired from revoked."""
    if status is TokenStatus.EXPIRED:
        stamp = time.strftime("%A, %d-%b-%y %H:%M:%S", time.gmtime())
        return meta_error(
            f"Error validating access token: Session has expired on {stamp} PDT.", 190, 463
        )
    if status is TokenStatus.REVOKED:
        return meta_error(
            "Error validating access token: The session has been invalidated because the user "
            "changed their password or Facebook has changed the session for security reasons.",
            190,
            460,
        )
    return meta_error("Invalid OAuth access token - Cannot parse access token", 190)
