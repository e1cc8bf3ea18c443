"""The authorize endpoint every OAuth provider shares: consent page, decision, code, redirect.

A browser gets a small HTML form; a test adds `sim_user=<name>&sim_decision=approve|deny` and
gets the 302 straight away. Posting the form answers exactly like the non-interactive path.
"""

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from platform_sim.state import SimState
from platform_sim.store import AuthCode
from platform_sim.web import body_params

__all__ = ["AuthorizeRequest", "ConsentPolicy", "authorize", "pkce_matches", "split_scopes"]

DEFAULT_USER = "sim-user"


def split_scopes(raw: str | None) -> tuple[str, ...]:
    return tuple(s for s in re.split(r"[ ,+]+", raw or "") if s)


def pkce_matches(
    challenge: str | None, method: str | None, verifier: str | None, *, allow_hex: bool = False
) -> bool:
    if challenge is None:
        return True
    if not verifier:
        return False
    if (method or "plain").upper() == "PLAIN":
        return secrets.compare_digest(verifier, challenge)
    digest = hashlib.sha256(verifier.encode()).digest()
    s256 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    # TikTok's desktop flow documents a hex-encoded SHA-256 instead of base64url.
    return challenge == s256 or (allow_hex and challenge.lower() == digest.hex())


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    state: str | None
    scopes: tuple[str, ...]
    code_challenge: str | None
    challenge_method: str | None
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    provider: str
    title: str
    client_param: str = "client_id"
    require_pkce: bool = False
    code_ttl: float = 600.0
    code_prefix: str = ""
    # Meta appends "#_" to its redirects; adapters are told to strip it.
    fragment: str = ""
    extra_keys: tuple[str, ...] = field(default=())


Validator = Callable[[AuthorizeRequest], Awaitable[Response | None]]


def _bad_request(message: str) -> Response:
    return HTMLResponse(f"<h1>Bad request</h1><p>{html.escape(message)}</p>", status_code=400)


def _with_query(uri: str, query: dict[str, str], fragment: str) -> str:
    sep = "&" if urlsplit(uri).query else "?"
    return f"{uri}{sep}{urlencode(query)}{fragment}"


def _page(request: Request, policy: ConsentPolicy, auth: AuthorizeRequest) -> Response:
    action = html.escape(str(request.url), quote=True)
    scopes = html.escape(" ".join(auth.scopes) or "(none)")
    body = f"""<!doctype html>
<html><head><title>{html.escape(policy.title)} — authorize</title></head>
<body>
<h1>{html.escape(policy.title)} (simulated)</h1>
<p>Application <code>{html.escape(auth.client_id)}</code> asks for: {scopes}</p>
<form method="post" action="{action}">
  <label>User name <input name="sim_user" value="{DEFAULT_USER}"></label>
  <button name="sim_decision" value="approve">Approve</button>
  <button name="sim_decision" value="deny">Deny</button>
</form>
</body></html>"""
    return HTMLResponse(body)


async def authorize(
    request: Request,
    state: SimState,
    policy: ConsentPolicy,
    provider: str | None = None,
    validate: Validator | None = None,
) -> Response:
    provider = provider or policy.provider
    query = dict(request.query_params)
    if request.method == "POST":
        query.update(await body_params(request))
    client_id = query.get(policy.client_param, "")
    redirect_uri = query.get("redirect_uri", "")
    if not client_id:
        return _bad_request(f"missing {policy.client_param}")
    if urlsplit(redirect_uri).scheme not in {"http", "https"}:
        return _bad_request("missing or invalid redirect_uri")
    auth = AuthorizeRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=query.get("state"),
        scopes=split_scopes(query.get("scope")),
        code_challenge=query.get("code_challenge") or None,
        challenge_method=query.get("code_challenge_method") or None,
        params=query,
    )
    if policy.require_pkce and not auth.code_challenge:
        return _bad_request("code_challenge is required")
    if validate is not None:
        problem = await validate(auth)
        if problem is not None:
            return problem
    decision = query.get("sim_decision")
    if decision not in {"approve", "deny"}:
        return _page(request, policy, auth)
    back: dict[str, str] = {}
    if decision == "deny":
        back = {"error": "access_denied", "error_description": "The user denied the request"}
    else:
        user_name = query.get("sim_user") or DEFAULT_USER
        state.users.ensure(provider, user_name)
        code = state.store.issue_code(
            AuthCode(
                value=policy.code_prefix + secrets.token_urlsafe(24),
                provider=provider,
                user=user_name,
                client_id=client_id,
                redirect_uri=redirect_uri,
                scopes=auth.scopes,
                expires_at=state.clock.now() + policy.code_ttl,
                code_challenge=auth.code_challenge,
                challenge_method=auth.challenge_method,
                extra={k: query[k] for k in policy.extra_keys if k in query},
            )
        )
        back = {"code": code.value}
    if auth.state is not None:
        back["state"] = auth.state
    return RedirectResponse(_with_query(redirect_uri, back, policy.fragment), status_code=302)
