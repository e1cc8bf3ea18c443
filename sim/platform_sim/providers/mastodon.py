"""Mastodon: every `/mastodon/{instance}` is its own server with its own app registrations.

Apps must be registered on an instance before OAuth; tokens never expire.
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from platform_sim.consent import AuthorizeRequest, ConsentPolicy, authorize, split_scopes
from platform_sim.oauth import oauth_error, redeem_form
from platform_sim.state import SimState
from platform_sim.store import TokenKind
from platform_sim.users import User
from platform_sim.web import bearer, body_params, json_response

__all__ = ["mount"]

_INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)
_INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)


def _provider(request: Request) -> tuple[str, str]:
    instance: str = request.path_params["instance"]
    return instance, f"mastodon/{instance}"


def _account(user: User, instance: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.name,
        "acct": user.name,
        "display_name": user.display_name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": "2022-11-01T00:00:00.000Z",
        "note": "<p>Simulated account</p>",
        "url": f"https://{instance}/@{user.name}",
        "avatar": f"https://{instance}/avatars/{user.id}.png",
        "avatar_static": f"https://{instance}/avatars/{user.id}.png",
        "header": f"https://{instance}/headers/{user.id}.png",
        "followers_count": 10,
        "following_count": 5,
        "statuses_count": 3,
        "last_status_at": None,
        "source": {"privacy": "public", "sensitive": False, "language": "en", "note": ""},
        "emojis": [],
        "fields": [],
    }


def mount(state: SimState) -> Mount:  # noqa: C901 - handlers share one closure
    async def apps(request: Request) -> Response:
        instance, _ = _provider(request)
        data = await body_params(request)
        name = data.get("client_name", "")
        raw_uris = data.get("redirect_uris", "")
        if not name or not raw_uris:
            return json_response({"error": "Validation failed: Name can't be blank"}, 422)
        uris = tuple(u for u in raw_uris.split() if u)
        scopes = split_scopes(data.get("scopes") or "read")
        app = state.mastodon.register(instance, name, data.get("website"), uris, scopes)
        return json_response(
            {
                "id": app.id,
                "name": app.name,
                "website": app.website,
                "scopes": list(app.scopes),
                "redirect_uri": "\n".join(app.redirect_uris),
                "redirect_uris": list(app.redirect_uris),
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "client_secret_expires_at": 0,
                "vapid_key": "BCk-QqERU0q-CfYZjcuB6lnyyOYfJ2AifKqfeGIm7Z-HiTU5T9eTG5GxVA0_OH5mMlI4UkkDTpaZwozy0TzdZ2M=",
            }
        )

    async def authorize_endpoint(request: Request) -> Response:
        instance, provider = _provider(request)

        async def validate(auth: AuthorizeRequest) -> Response | None:
            app = state.mastodon.get(instance, auth.client_id)
            if app is None:
                return HTMLResponse(f"<p>{_INVALID_CLIENT}</p>", status_code=401)
            if auth.redirect_uri not in app.redirect_uris:
                return HTMLResponse(
                    "<p>The redirect uri included is not valid.</p>", status_code=400
                )
            if not set(auth.scopes) <= set(app.scopes) and auth.scopes:
                return HTMLResponse("<p>The requested scope is invalid.</p>", status_code=400)
            return None

        policy = ConsentPolicy(provider=provider, title=f"Mastodon ({instance})")
        return await authorize(request, state, policy, validate=validate)

    async def token(request: Request) -> Response:
        instance, provider = _provider(request)
        form = await body_params(request)
        app = state.mastodon.get(instance, form.get("client_id"))
        if app is None or app.client_secret != form.get("client_secret"):
            return oauth_error("invalid_client", _INVALID_CLIENT, 401)
        if form.get("grant_type") != "authorization_code":
            return oauth_error(
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        problem, code = redeem_form(state, provider, form, app.client_id)
        if problem is not None or code is None:
            return oauth_error("invalid_grant", _INVALID_GRANT)
        scopes = code.scopes or ("read",)
        grant = state.store.new_grant(provider, code.user, app.client_id, scopes)
        access = state.store.issue(grant, TokenKind.ACCESS, None)
        return json_response(
            {
                "access_token": access.value,
                "token_type": "Bearer",
                "scope": " ".join(scopes),
                "created_at": int(access.issued_at),
            }
        )

    async def revoke(request: Request) -> Response:
        instance, provider = _provider(request)
        form = await body_params(request)
        app = state.mastodon.get(instance, form.get("client_id"))
        if app is None or app.client_secret != form.get("client_secret"):
            return oauth_error(
                "unauthorized_client", "You are not authorized to revoke this token", 403
            )
        found = state.store.find(form.get("token", ""))
        if found is not None and found.grant.provider == provider:
            state.store.revoke_grants(lambda g: g is found.grant)
        return json_response({})

    async def verify_credentials(request: Request) -> Response:
        instance, provider = _provider(request)
        found = state.store.lookup(bearer(request), TokenKind.ACCESS, provider)
        if not found.ok or found.token is None:
            return json_response({"error": "The access token is invalid"}, 401)
        user = state.users.ensure(provider, found.token.grant.user)
        if user.disabled:
            return json_response({"error": "Your login is currently disabled"}, 403)
        return json_response(_account(user, instance))

    async def metadata(request: Request) -> Response:
        base = str(request.base_url).rstrip("/") + "/mastodon/" + request.path_params["instance"]
        return json_response(
            {
                "issuer": base + "/",
                "authorization_endpoint": base + "/oauth/authorize",
                "token_endpoint": base + "/oauth/token",
                "revocation_endpoint": base + "/oauth/revoke",
                "app_registration_endpoint": base + "/api/v1/apps",
                "scopes_supported": [
                    "read",
                    "write",
                    "profile",
                    "read:accounts",
                    "write:statuses",
                    "write:media",
                    "push",
                    "follow",
                ],
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    return Mount(
        "/mastodon/{instance}",
        routes=[
            Route("/api/v1/apps", apps, methods=["POST"]),
            Route("/oauth/authorize", authorize_endpoint, methods=["GET", "POST"]),
            Route("/oauth/token", token, methods=["POST"]),
            Route("/oauth/revoke", revoke, methods=["POST"]),
            Route("/api/v1/accounts/verify_credentials", verify_credentials, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
        ],
    )
