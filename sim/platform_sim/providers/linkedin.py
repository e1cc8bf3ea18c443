"""LinkedIn (member) and LinkedIn Page: one OAuth app, organisation ACLs for the page picker."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from platform_sim.consent import ConsentPolicy, authorize
from platform_sim.lifetimes import LINKEDIN_ACCESS, LINKEDIN_REFRESH
from platform_sim.oauth import live_refresh_token, oauth_error, redeem_form
from platform_sim.state import SimState
from platform_sim.store import Grant, TokenKind, TokenStatus
from platform_sim.users import Org, User
from platform_sim.web import bearer, body_params, json_response

__all__ = ["mount"]

PROVIDER = "linkedin"
POLICY = ConsentPolicy(provider=PROVIDER, title="LinkedIn")
_CODE_PROBLEM = (
    "Unable to retrieve access token: appid/redirect uri/code verifier does not match "
    "authorization code. Or authorization code expired."
)


def _unauthorized(status: TokenStatus) -> Response:
    code, service_code, message = {
        TokenStatus.EXPIRED: (
            "EXPIRED_ACCESS_TOKEN",
            65601,
            "The token used in the request has expired",
        ),
        TokenStatus.REVOKED: (
            "REVOKED_ACCESS_TOKEN",
            65602,
            "The token used in the request has been revoked by the user",
        ),
    }.get(status, ("INVALID_ACCESS_TOKEN", 65600, "Invalid access token"))
    return json_response(
        {"status": 401, "serviceErrorCode": service_code, "code": code, "message": message}, 401
    )


def _org_json(org: Org) -> dict[str, Any]:
    return {
        "id": int(org.id) if org.id.isdigit() else org.id,
        "localizedName": org.name,
        "vanityName": org.vanity_name,
    }


def mount(state: SimState) -> Mount:  # noqa: C901, PLR0915 - handlers share one closure
    def issue(grant: Grant, refresh_value: str | None = None) -> dict[str, Any]:
        access = state.store.issue(grant, TokenKind.ACCESS, LINKEDIN_ACCESS)
        body: dict[str, Any] = {
            "access_token": access.value,
            "expires_in": LINKEDIN_ACCESS,
            "scope": ",".join(grant.scopes),
        }
        if state.config.linkedin_refresh_tokens and grant.refresh_expires_at is not None:
            if refresh_value is None:
                refresh_value = state.store.issue(grant, TokenKind.REFRESH, LINKEDIN_REFRESH).value
            body["refresh_token"] = refresh_value
            # Partner refresh tokens live 365 days from the first consent; refreshing doesn't extend.
            body["refresh_token_expires_in"] = round(grant.refresh_expires_at - state.clock.now())
        return body

    def me(request: Request) -> tuple[Response | None, User | None]:
        found = state.store.lookup(bearer(request), TokenKind.ACCESS, PROVIDER)
        if not found.ok or found.token is None:
            return _unauthorized(found.status), None
        return None, state.users.ensure(PROVIDER, found.token.grant.user)

    async def authorize_endpoint(request: Request) -> Response:
        return await authorize(request, state, POLICY)

    async def access_token(request: Request) -> Response:
        form = await body_params(request)
        client_id = form.get("client_id", "")
        if not client_id or not state.client_ok(PROVIDER, client_id, form.get("client_secret")):
            return oauth_error("invalid_client", "Client authentication failed", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            problem, code = redeem_form(state, PROVIDER, form, client_id)
            if problem is not None or code is None:
                return oauth_error("invalid_request", _CODE_PROBLEM)
            grant = state.store.new_grant(PROVIDER, code.user, client_id, code.scopes)
            grant.refresh_expires_at = grant.created_at + LINKEDIN_REFRESH
            return json_response(issue(grant))
        if grant_type == "refresh_token":
            used = live_refresh_token(state, PROVIDER, form, client_id)
            if used is None:
                return oauth_error("invalid_grant", "Token has been expired or revoked.")
            # Not rotating: the same refresh token comes back, its clock untouched.
            return json_response(issue(used.grant, refresh_value=used.value))
        return oauth_error("unsupported_grant_type", "grant_type is not supported")

    async def revoke(request: Request) -> Response:
        form = await body_params(request)
        token = state.store.find(form.get("token", ""))
        if token is not None and token.grant.provider == PROVIDER:
            state.store.revoke_grants(lambda g: g is token.grant)
        return Response(status_code=200)

    async def userinfo(request: Request) -> Response:
        problem, user = me(request)
        if problem is not None or user is None:
            return problem or _unauthorized(TokenStatus.UNKNOWN)
        return json_response(
            {
                "sub": user.id,
                "email_verified": True,
                "name": user.display_name,
                "locale": {"country": "US", "language": "en"},
                "given_name": user.given_name,
                "family_name": user.family_name,
                "email": f"{user.name}@example.invalid",
                "picture": f"https://media.licdn.com/dms/image/sim/{user.id}.jpg",
            }
        )

    async def legacy_me(request: Request) -> Response:
        problem, user = me(request)
        if problem is not None or user is None:
            return problem or _unauthorized(TokenStatus.UNKNOWN)
        return json_response(
            {
                "id": user.id,
                "localizedFirstName": user.given_name,
                "localizedLastName": user.family_name,
                "vanityName": user.name,
            }
        )

    def version_missing(request: Request) -> Response | None:
        if request.url.path.startswith("/linkedin/rest/") and not request.headers.get(
            "linkedin-version"
        ):
            return json_response(
                {
                    "status": 400,
                    "code": "VERSION_MISSING",
                    "message": "A version must be present. Please specify a version by adding "
                    "the LinkedIn-Version header.",
                },
                400,
            )
        return None

    async def acls(request: Request) -> Response:
        missing = version_missing(request)
        if missing is not None:
            return missing
        problem, user = me(request)
        if problem is not None or user is None:
            return problem or _unauthorized(TokenStatus.UNKNOWN)
        query = request.query_params
        if query.get("q") != "roleAssignee":
            return json_response(
                {"status": 400, "message": "Invalid query parameters passed to request"}, 400
            )
        legacy = request.url.path.startswith("/linkedin/v2/")
        target = "organizationalTarget" if legacy else "organization"
        decorate = "projection" in query
        elements = []
        for org in user.orgs:
            if query.get("role") and org.role != query["role"]:
                continue
            if query.get("state") and org.state != query["state"]:
                continue
            element: dict[str, Any] = {
                "roleAssignee": f"urn:li:person:{user.id}",
                "state": org.state,
                "role": org.role,
                target: f"urn:li:organization:{org.id}",
            }
            if decorate:
                element[target + "~"] = _org_json(org)
            elements.append(element)
        return json_response(
            {
                "paging": {"count": 10, "start": 0, "total": len(elements), "links": []},
                "elements": elements,
            }
        )

    async def organization(request: Request) -> Response:
        missing = version_missing(request)
        if missing is not None:
            return missing
        problem, user = me(request)
        if problem is not None or user is None:
            return problem or _unauthorized(TokenStatus.UNKNOWN)
        org_id = request.path_params["org_id"]
        for org in user.orgs:
            if org.id == org_id:
                return json_response(_org_json(org))
        return json_response(
            {
                "status": 403,
                "serviceErrorCode": 100,
                "code": "ACCESS_DENIED",
                "message": f"Not enough permissions to access: organizations.GET ({org_id})",
            },
            403,
        )

    return Mount(
        "/linkedin",
        routes=[
            Route("/oauth/v2/authorization", authorize_endpoint, methods=["GET", "POST"]),
            Route("/oauth/v2/accessToken", access_token, methods=["POST"]),
            Route("/oauth/v2/revoke", revoke, methods=["POST"]),
            Route("/v2/userinfo", userinfo, methods=["GET"]),
            Route("/rest/userinfo", userinfo, methods=["GET"]),
            Route("/v2/me", legacy_me, methods=["GET"]),
            Route("/rest/organizationAcls", acls, methods=["GET"]),
            Route("/v2/organizationAcls", acls, methods=["GET"]),
            Route("/v2/organizationalEntityAcls", acls, methods=["GET"]),
            Route("/rest/organizations/{org_id}", organization, methods=["GET"]),
            Route("/v2/organizations/{org_id}", organization, methods=["GET"]),
        ],
    )
