"""Google OAuth for YouTube: ~1-hour access tokens, refresh tokens that do not rotate."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from platform_sim.consent import ConsentPolicy, authorize
from platform_sim.lifetimes import GOOGLE_ACCESS, GOOGLE_TESTING_REFRESH
from platform_sim.oauth import live_refresh_token, oauth_error, redeem_form
from platform_sim.state import SimState
from platform_sim.store import Grant, Token, TokenKind
from platform_sim.users import Channel, User
from platform_sim.web import bearer, body_params, json_response, params

__all__ = ["mount"]

PROVIDER = "google"
POLICY = ConsentPolicy(
    provider=PROVIDER, title="Google", code_prefix="4/0A", extra_keys=("access_type", "prompt")
)


def _unauthenticated() -> Response:
    return json_response(
        {
            "error": {
                "code": 401,
                "message": "Request had invalid authentication credentials. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential.",
                "errors": [
                    {
                        "message": "Invalid Credentials",
                        "domain": "global",
                        "reason": "authError",
                        "location": "Authorization",
                        "locationType": "header",
                    }
                ],
                "status": "UNAUTHENTICATED",
            }
        },
        401,
    )


def _channel_json(channel: Channel, parts: set[str]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "kind": "youtube#channel",
        "etag": "sim-" + channel.id[-8:],
        "id": channel.id,
    }
    if "snippet" in parts:
        thumb = f"https://yt3.ggpht.com/sim/{channel.id}"
        item["snippet"] = {
            "title": channel.title,
            "description": "",
            "customUrl": channel.custom_url,
            "publishedAt": "2020-01-01T00:00:00Z",
            "thumbnails": {"default": {"url": thumb, "width": 88, "height": 88}},
        }
    if "contentDetails" in parts:
        item["contentDetails"] = {
            "relatedPlaylists": {"likes": "", "uploads": "UU" + channel.id[2:]}
        }
    if "statistics" in parts:
        item["statistics"] = {
            "viewCount": "1000",
            "subscriberCount": "50",
            "videoCount": "7",
            "hiddenSubscriberCount": False,
        }
    return item


def mount(state: SimState) -> Mount:  # noqa: C901, PLR0915 - handlers share one closure
    def has_refresh(user: str, client_id: str) -> bool:
        return any(
            t.kind is TokenKind.REFRESH
            and t.grant.user == user
            and t.grant.client_id == client_id
            and t.grant.provider == PROVIDER
            and not t.grant.revoked
            for t in state.store.tokens.values()
        )

    def access(grant: Grant) -> dict[str, Any]:
        token = state.store.issue(grant, TokenKind.ACCESS, GOOGLE_ACCESS, "ya29.")
        return {
            "access_token": token.value,
            "expires_in": GOOGLE_ACCESS,
            "scope": " ".join(grant.scopes),
            "token_type": "Bearer",
        }

    def authed(request: Request) -> tuple[Token | None, User | None]:
        found = state.store.lookup(bearer(request), TokenKind.ACCESS, PROVIDER)
        if not found.ok or found.token is None:
            return None, None
        return found.token, state.users.ensure(PROVIDER, found.token.grant.user)

    async def authorize_endpoint(request: Request) -> Response:
        return await authorize(request, state, POLICY)

    async def token(request: Request) -> Response:
        form = await body_params(request)
        client_id = form.get("client_id", "")
        if not client_id or not state.client_ok(PROVIDER, client_id, form.get("client_secret")):
            return oauth_error("invalid_client", "The OAuth client was not found.", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            problem, code = redeem_form(state, PROVIDER, form, client_id)
            if problem is not None or code is None:
                return oauth_error("invalid_grant", "Bad Request")
            offline = code.extra.get("access_type") == "offline"
            # Google hands out a refresh token on the first consent only, unless prompt=consent.
            give_refresh = offline and (
                "consent" in code.extra.get("prompt", "") or not has_refresh(code.user, client_id)
            )
            grant = state.store.new_grant(PROVIDER, code.user, client_id, code.scopes)
            body = access(grant)
            if give_refresh:
                lifetime = GOOGLE_TESTING_REFRESH if state.config.google_testing_mode else None
                body["refresh_token"] = state.store.issue(
                    grant, TokenKind.REFRESH, lifetime, "1//0"
                ).value
            return json_response(body)
        if grant_type == "refresh_token":
            used = live_refresh_token(state, PROVIDER, form, client_id)
            if used is None:
                return oauth_error("invalid_grant", "Token has been expired or revoked.")
            # Not rotating: no refresh_token in the answer; the caller keeps the one it has.
            return json_response(access(used.grant))
        return oauth_error("unsupported_grant_type", "Invalid grant_type: " + str(grant_type))

    async def revoke(request: Request) -> Response:
        query = await params(request)
        found = state.store.find(query.get("token", ""))
        if found is None or found.grant.provider != PROVIDER or found.grant.revoked:
            return oauth_error("invalid_token", "Token expired or revoked")
        state.store.revoke_grants(lambda g: g is found.grant)
        return json_response({})

    async def tokeninfo(request: Request) -> Response:
        query = await params(request)
        found = state.store.lookup(query.get("access_token"), TokenKind.ACCESS, PROVIDER)
        if not found.ok or found.token is None:
            return json_response(
                {"error": "invalid_token", "error_description": "Invalid Value"}, 400
            )
        tok = found.token
        user = state.users.ensure(PROVIDER, tok.grant.user)
        exp = int(tok.expires_at or 0)
        return json_response(
            {
                "azp": tok.grant.client_id,
                "aud": tok.grant.client_id,
                "sub": user.id,
                "scope": " ".join(tok.grant.scopes),
                "exp": str(exp),
                "expires_in": str(max(0, exp - int(state.clock.now()))),
                "email": f"{user.name}@example.invalid",
                "email_verified": "true",
                "access_type": "offline",
            }
        )

    async def userinfo(request: Request) -> Response:
        _, user = authed(request)
        if user is None:
            return _unauthenticated()
        return json_response(
            {
                "sub": user.id,
                "name": user.display_name,
                "given_name": user.given_name,
                "family_name": user.family_name,
                "picture": f"https://lh3.googleusercontent.com/a/sim-{user.id}",
                "email": f"{user.name}@example.invalid",
                "email_verified": True,
            }
        )

    async def channels(request: Request) -> Response:
        _, user = authed(request)
        if user is None:
            return _unauthenticated()
        query = request.query_params
        parts = {p.strip() for p in query.get("part", "").split(",") if p.strip()}
        if not parts:
            return json_response(
                {
                    "error": {
                        "code": 400,
                        "message": "Required parameter: part",
                        "errors": [
                            {
                                "reason": "required",
                                "domain": "global",
                                "message": "Required parameter: part",
                                "location": "part",
                                "locationType": "parameter",
                            }
                        ],
                    }
                },
                400,
            )
        ids = {i for i in query.get("id", "").split(",") if i}
        selected = [c for c in user.channels if not ids or c.id in ids]
        if not ids and query.get("mine") != "true":
            selected = []
        items = [_channel_json(c, parts) for c in selected]
        return json_response(
            {
                "kind": "youtube#channelListResponse",
                "etag": "sim-etag",
                "pageInfo": {"totalResults": len(items), "resultsPerPage": 5},
                "items": items,
            }
        )

    return Mount(
        "/google",
        routes=[
            Route("/o/oauth2/v2/auth", authorize_endpoint, methods=["GET", "POST"]),
            Route("/o/oauth2/auth", authorize_endpoint, methods=["GET", "POST"]),
            Route("/token", token, methods=["POST"]),
            Route("/revoke", revoke, methods=["GET", "POST"]),
            Route("/tokeninfo", tokeninfo, methods=["GET", "POST"]),
            Route("/oauth2/v3/tokeninfo", tokeninfo, methods=["GET", "POST"]),
            Route("/oauth2/v3/userinfo", userinfo, methods=["GET"]),
            Route("/oauth2/v2/userinfo", userinfo, methods=["GET"]),
            Route("/youtube/v3/channels", channels, methods=["GET"]),
        ],
    )
