"""Bluesky: a PDS (password sessions, rotating refreshJwt) and a PLC-style DID directory.

Session answers (`createSession`, `refreshSession`, `getSession`) carry `active` and, for an
account that is not active, `status` (`deactivated`, `suspended`), as the reference PDS does; a
taken-down account gets `AccountTakedown`. A main password opens a full-privilege session whose
access token says so in its `scope` claim.
"""

import base64
import json
import math
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from platform_sim.bluesky_accounts import APP_PASSWORD_RE, APP_PASSWORD_SCOPE, BlueskyAccount
from platform_sim.lifetimes import BLUESKY_ACCESS, BLUESKY_REFRESH, BLUESKY_REFRESH_GRACE
from platform_sim.state import SimState
from platform_sim.store import Lookup, TokenKind, TokenStatus
from platform_sim.web import json_response

__all__ = ["issue_session", "mount"]

PROVIDER = "bluesky"
SERVICE_DID = "did:web:pds.sim"


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwt(kind: TokenKind, did: str, now: float, lifetime: float, scope: str) -> str:
    # JWT-shaped like the reference PDS, so clients that read `exp` and `scope` locally work.
    header = {"typ": "at+jwt" if kind is TokenKind.ACCESS else "refresh+jwt", "alg": "HS256"}
    payload = {
        "scope": scope if kind is TokenKind.ACCESS else "com.atproto.refresh",
        "sub": did,
        "aud": SERVICE_DID,
        "iat": int(now),
        "exp": int(now + lifetime),
        "jti": secrets.token_urlsafe(16),
    }
    return f"{_b64(header)}.{_b64(payload)}.{secrets.token_urlsafe(32)}"


def _error(
    name: str, message: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    return json_response({"error": name, "message": message}, status, headers)


def _session_body(account: BlueskyAccount) -> dict[str, Any]:
    body: dict[str, Any] = {
        "handle": account.handle,
        "did": account.did,
        "email": f"{account.handle}@example.invalid",
        "emailConfirmed": True,
        "active": account.active,
    }
    if account.status:
        body["status"] = account.status
    return body


def issue_session(
    state: SimState, account: BlueskyAccount, scope: str = APP_PASSWORD_SCOPE
) -> dict[str, Any]:
    """A fresh access/refresh pair on a new session (used by createSession and control)."""
    client = "app-password" if scope == APP_PASSWORD_SCOPE else "main-password"
    grant = state.store.new_grant(PROVIDER, account.did, client, (scope,))
    return _pair(state, grant_id=grant.id, account=account)


def _pair(state: SimState, grant_id: str, account: BlueskyAccount) -> dict[str, Any]:
    grant = state.store.grants[grant_id]
    now = state.clock.now()
    # A refreshed session keeps the scope of the session it continues.
    scope = grant.scopes[0] if grant.scopes else APP_PASSWORD_SCOPE
    access = _jwt(TokenKind.ACCESS, account.did, now, BLUESKY_ACCESS, scope)
    refresh = _jwt(TokenKind.REFRESH, account.did, now, BLUESKY_REFRESH, scope)
    state.store.issue(grant, TokenKind.ACCESS, BLUESKY_ACCESS, value=access)
    state.store.issue(grant, TokenKind.REFRESH, BLUESKY_REFRESH, value=refresh)
    return {"accessJwt": access, "refreshJwt": refresh, **_session_body(account)}


def _token_problem(
    found: Lookup, wanted: TokenKind, state: SimState, raw: str | None
) -> Response | None:
    if raw is None:
        return _error("AuthMissing", "Authentication Required", 401)
    if found.status is TokenStatus.UNKNOWN:
        other = state.store.find(raw)
        if other is not None and other.kind is not wanted:
            return _error("InvalidToken", "Invalid token type")
        return _error("InvalidToken", "Token could not be verified")
    if found.status is TokenStatus.EXPIRED:
        return _error("ExpiredToken", "Token has expired")
    if found.status is TokenStatus.REVOKED:
        return _error("InvalidToken", "Token has been revoked")
    return None


def _bearer_only(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def mount(state: SimState) -> Mount:  # noqa: C901, PLR0915 - handlers share one closure
    def rate_limited(account: BlueskyAccount) -> Response | None:
        cfg = state.config
        now = state.clock.now()
        attempts = account.session_attempts
        while attempts and attempts[0] <= now - cfg.bluesky_session_window_seconds:
            attempts.popleft()
        if len(attempts) >= cfg.bluesky_session_limit:
            reset = attempts[0] + cfg.bluesky_session_window_seconds
            headers = {
                "ratelimit-limit": str(cfg.bluesky_session_limit),
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(int(reset)),
                "ratelimit-policy": (
                    f"{cfg.bluesky_session_limit};w={int(cfg.bluesky_session_window_seconds)}"
                ),
                "retry-after": str(max(1, math.ceil(reset - now))),
            }
            return _error("RateLimitExceeded", "Rate Limit Exceeded", 429, headers)
        attempts.append(now)
        return None

    def authed(
        request: Request, kind: TokenKind
    ) -> tuple[Response | None, BlueskyAccount | None, Lookup]:
        raw = _bearer_only(request)
        found = state.store.lookup(raw, kind, PROVIDER)
        problem = _token_problem(found, kind, state, raw)
        if problem is not None or found.token is None:
            return problem, None, found
        account = state.bluesky.find(found.token.grant.user)
        if account is None:
            return _error("InvalidToken", "Token could not be verified"), None, found
        if account.status == "takendown":
            return _error("AccountTakedown", "Account has been taken down", 401), None, found
        return None, account, found

    async def create_session(request: Request) -> Response:  # noqa: PLR0911
        data = _json_object(await request.body())
        if data is None:
            return _error("InvalidRequest", "Request body must be a JSON object")
        identifier = str(data.get("identifier") or "")
        password = str(data.get("password") or "")
        if not identifier or not password:
            return _error("InvalidRequest", "Input must have the properties identifier, password")
        account = state.bluesky.find(identifier)
        if account is None and state.config.bluesky_auto_register and "." in identifier:
            account = state.bluesky.add(identifier)
        if account is None:
            return _error("AuthenticationRequired", "Invalid identifier or password", 401)
        limited = rate_limited(account)
        if limited is not None:
            return limited
        if (
            account.app_password is None
            and state.config.bluesky_auto_register
            and APP_PASSWORD_RE.match(password)
            and password != account.main_password
        ):
            account.app_password = password
        # A main password is accepted too, whatever its shape, and opens a full-privilege
        # session: telling the two apart is the client's job (the access token's scope).
        scope = account.session_scope(password)
        if scope is None:
            return _error("AuthenticationRequired", "Invalid identifier or password", 401)
        if account.status == "takendown":
            return _error("AccountTakedown", "Account has been taken down", 401)
        body = issue_session(state, account, scope)
        body["didDoc"] = _did_doc(request, account)
        return json_response(body)

    async def refresh_session(request: Request) -> Response:
        problem, account, found = authed(request, TokenKind.REFRESH)
        if problem is not None or account is None or found.token is None:
            return problem or _error("InvalidToken", "Token could not be verified")
        old = found.token
        # The reference PDS cuts the used refresh token to a 2-hour grace instead of killing it.
        grace_end = state.clock.now() + BLUESKY_REFRESH_GRACE
        if old.expires_at is None or old.expires_at > grace_end:
            old.expires_at = grace_end
        return json_response(_pair(state, old.grant.id, account))

    async def get_session(request: Request) -> Response:
        problem, account, _ = authed(request, TokenKind.ACCESS)
        if problem is not None or account is None:
            return problem or _error("InvalidToken", "Token could not be verified")
        return json_response(_session_body(account))

    async def delete_session(request: Request) -> Response:
        problem, _, found = authed(request, TokenKind.REFRESH)
        if problem is not None or found.token is None:
            return problem or _error("InvalidToken", "Token could not be verified")
        grant = found.token.grant
        state.store.revoke_grants(lambda g: g is grant)
        return Response(status_code=200)

    async def resolve_handle(request: Request) -> Response:
        handle = request.query_params.get("handle", "")
        if not handle:
            return _error("InvalidRequest", 'Error: Params must have the property "handle"')
        account = state.bluesky.find(handle)
        if account is None and state.config.bluesky_auto_register and "." in handle:
            account = state.bluesky.add(handle)
        if account is None:
            return _error("InvalidRequest", "Unable to resolve handle")
        return json_response({"did": account.did})

    async def get_profile(request: Request) -> Response:
        problem, caller, _ = authed(request, TokenKind.ACCESS)
        if problem is not None:
            return problem
        if caller is not None and not caller.appview:
            # The reference PDS with no AppView to proxy `app.bsky.*` reads to.
            return _error("InvalidRequest", "No service configured for app.bsky.actor.getProfile")
        actor = state.bluesky.find(request.query_params.get("actor", ""))
        if actor is None:
            return _error("InvalidRequest", "Profile not found")
        return json_response(
            {
                "did": actor.did,
                "handle": actor.handle,
                "displayName": actor.handle.split(".")[0].title(),
                "avatar": f"https://cdn.bsky.app/img/avatar/plain/{actor.did}/sim@jpeg",
            }
        )

    async def describe_server(_: Request) -> Response:
        return json_response({"did": SERVICE_DID, "availableUserDomains": [".bsky.social"]})

    async def plc(request: Request) -> Response:
        account = state.bluesky.find(request.path_params["did"])
        if account is None:
            return json_response({"message": "DID not registered"}, 404)
        return json_response(_did_doc(request, account))

    return Mount(
        "/bluesky",
        routes=[
            Route("/xrpc/com.atproto.server.createSession", create_session, methods=["POST"]),
            Route("/xrpc/com.atproto.server.refreshSession", refresh_session, methods=["POST"]),
            Route("/xrpc/com.atproto.server.getSession", get_session, methods=["GET"]),
            Route("/xrpc/com.atproto.server.deleteSession", delete_session, methods=["POST"]),
            Route("/xrpc/com.atproto.server.describeServer", describe_server, methods=["GET"]),
            Route("/xrpc/com.atproto.identity.resolveHandle", resolve_handle, methods=["GET"]),
            Route("/xrpc/app.bsky.actor.getProfile", get_profile, methods=["GET"]),
            Route("/plc/{did}", plc, methods=["GET"]),
        ],
    )


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _did_doc(request: Request, account: BlueskyAccount) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1",
        ],
        "id": account.did,
        "alsoKnownAs": [f"at://{account.handle}"],
        "verificationMethod": [
            {
                "id": f"{account.did}#atproto",
                "type": "Multikey",
                "controller": account.did,
                "publicKeyMultibase": "zQ3sh" + account.did[-24:],
            }
        ],
        "service": [
            {
                "id": "#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": f"{base}/bluesky",
            }
        ],
    }
