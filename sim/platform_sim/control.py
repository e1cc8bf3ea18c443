"""The control API under /_control: tests drive the simulator's state and faults through it."""

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from platform_sim import lifetimes as ttl
from platform_sim.faults import FaultKind
from platform_sim.platforms import PLATFORM_PREFIX, PREFIXES
from platform_sim.providers.bluesky import issue_session
from platform_sim.state import SimState
from platform_sim.store import Grant, Token, TokenKind
from platform_sim.users import User
from platform_sim.web import json_response

__all__ = ["control_routes"]


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _prefix(platform: Any) -> str:
    name = str(platform or "")
    if name in PLATFORM_PREFIX:
        return PLATFORM_PREFIX[name]
    if name in PREFIXES:
        return name
    raise ControlError(f"unknown platform {name!r}", 404)


def _provider(platform: Any, instance: Any = None) -> str:
    prefix = _prefix(platform)
    if prefix == "mastodon":
        if not instance:
            raise ControlError("mastodon needs an instance")
        return f"mastodon/{instance}"
    return prefix


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ControlError("body must be JSON") from exc
    if not isinstance(data, dict):
        raise ControlError("body must be a JSON object")
    return data


def _user_json(user: User) -> dict[str, Any]:
    return {
        "provider": user.provider,
        "name": user.name,
        "id": user.id,
        "display_name": user.display_name,
        "disabled": user.disabled,
        "orgs": [
            {
                "id": o.id,
                "name": o.name,
                "vanity_name": o.vanity_name,
                "role": o.role,
                "state": o.state,
            }
            for o in user.orgs
        ],
        "pages": [
            {
                "id": p.id,
                "name": p.name,
                "category": p.category,
                "instagram": None
                if p.instagram is None
                else {
                    "id": p.instagram.id,
                    "username": p.instagram.username,
                    "name": p.instagram.name,
                },
            }
            for p in user.pages
        ],
        "channels": [
            {"id": c.id, "title": c.title, "custom_url": c.custom_url} for c in user.channels
        ],
    }


def control_routes(state: SimState) -> Mount:  # noqa: C901, PLR0915 - one flat table of handlers
    def handler(
        fn: Callable[[Request], Any],
    ) -> Callable[[Request], Any]:
        async def wrapped(request: Request) -> Response:
            try:
                result = await fn(request)
            except ControlError as exc:
                return json_response({"error": str(exc)}, exc.status)
            except (KeyError, TypeError, ValueError) as exc:
                return json_response({"error": f"bad request: {exc}"}, 400)
            if isinstance(result, Response):
                return result
            return json_response(result)

        return wrapped

    def grant_matcher(data: dict[str, Any]) -> Callable[[Grant], bool]:
        prefix = _prefix(data.get("platform"))
        user = str(data["user"])
        instance = data.get("instance")
        if prefix == "bluesky":
            account = state.bluesky.find(user)
            user = account.did if account else user
        if prefix == "mastodon" and not instance:
            return lambda g: g.provider.startswith("mastodon/") and g.user == user
        provider = _provider(prefix, instance)
        return lambda g: g.provider == provider and g.user == user

    async def health(_: Request) -> dict[str, Any]:
        return {"status": "ok"}

    async def reset(_: Request) -> dict[str, Any]:
        state.reset()
        return {"reset": True}

    async def clock(request: Request) -> dict[str, Any]:
        if request.method == "POST":
            data = await _json(request)
            if "offset_seconds" in data:
                state.clock.offset = float(data["offset_seconds"])
            state.clock.advance(float(data.get("advance_seconds", 0)))
        return {"now": state.clock.now(), "offset_seconds": state.clock.offset}

    async def config(request: Request) -> dict[str, Any]:
        if request.method == "POST":
            state.config.update(await _json(request))
        return state.config.to_json()

    async def token_info(request: Request) -> dict[str, Any]:
        token = state.store.find(request.path_params["token"])
        if token is None:
            raise ControlError("unknown token", 404)
        return {
            "kind": token.kind.value,
            "platform": token.grant.provider,
            "user": token.grant.user,
            "client_id": token.grant.client_id,
            "status": token.status(state.clock.now()).value,
            "issued_at": token.issued_at,
            "expires_at": token.expires_at,
            "scopes": list(token.grant.scopes),
            "subject": token.subject,
            "long_lived": token.long_lived,
        }

    async def issued_secrets(_: Request) -> dict[str, Any]:
        # For secret scans of whatever talked to the simulator: every value it ever handed
        # out (expired and revoked ones too) and every Bluesky password it knows.
        passwords = {
            password
            for account in state.bluesky.by_handle.values()
            for password in (account.app_password, account.main_password)
            if password
        }
        return {
            "tokens": sorted(state.store.tokens),
            "codes": sorted(state.store.codes),
            "passwords": sorted(passwords),
        }

    async def revoke(request: Request) -> dict[str, Any]:
        data = await _json(request)
        if "token" in data:
            token = state.store.find(str(data["token"]))
            if token is None:
                raise ControlError("unknown token", 404)
            return {"revoked": state.store.revoke_grants(lambda g: g is token.grant)}
        return {"revoked": state.store.revoke_grants(grant_matcher(data))}

    async def expire(request: Request) -> dict[str, Any]:
        data = await _json(request)
        kinds = {TokenKind.ACCESS}
        if data.get("kind") == "all":
            kinds = {TokenKind.ACCESS, TokenKind.REFRESH}
        elif data.get("kind") == "refresh":
            kinds = {TokenKind.REFRESH}
        if "token" in data:
            token = state.store.find(str(data["token"]))
            if token is None:
                raise ControlError("unknown token", 404)
            return {"expired": state.store.expire_tokens(lambda t: t is token)}
        match = grant_matcher(data)

        def hit(t: Token) -> bool:
            return t.kind in kinds and match(t.grant)

        return {"expired": state.store.expire_tokens(hit)}

    async def issue(request: Request) -> dict[str, Any]:
        data = await _json(request)
        prefix = _prefix(data.get("platform"))
        provider = _provider(prefix, data.get("instance"))
        user = str(data.get("user", "sim-user"))
        count = min(int(data.get("count", 1)), 100_000)
        client_id = str(data.get("client_id", "sim-client"))
        scopes = tuple(str(s) for s in data.get("scopes", ["offline.access"]))
        if prefix == "bluesky":
            account = state.bluesky.add(user)
            return {"tokens": [issue_session(state, account) for _ in range(count)]}
        state.users.ensure(provider, user)
        access_ttl, refresh_ttl = _LIFETIMES[prefix]
        out = []
        for _ in range(count):
            grant = state.store.new_grant(provider, user, client_id, scopes)
            access = state.store.issue(grant, TokenKind.ACCESS, access_ttl, long_lived=True)
            item: dict[str, Any] = {"access_token": access.value, "expires_in": access_ttl}
            if refresh_ttl is not False:
                refresh = state.store.issue(
                    grant, TokenKind.REFRESH, None if refresh_ttl is True else refresh_ttl
                )
                item["refresh_token"] = refresh.value
            out.append(item)
        return {"tokens": out}

    async def faults(request: Request) -> dict[str, Any]:
        if request.method == "DELETE":
            cleared = len(state.faults.rules)
            state.faults.rules.clear()
            return {"cleared": cleared}
        if request.method == "GET":
            return {"faults": [r.to_json() for r in state.faults.rules]}
        data = await _json(request)
        kind = FaultKind(str(data.get("kind", "error")))
        seconds = data.get("seconds")
        times = data.get("times")
        rule = state.faults.add(
            platform=_prefix(data.get("platform")),
            path=str(data["path"]) if data.get("path") else None,
            method=str(data["method"]) if data.get("method") else None,
            kind=kind,
            status=int(data.get("status", 503)),
            retry_after=int(data.get("retry_after", 30)),
            seconds=None if seconds is None else float(seconds),
            times=None if times is None else int(times),
        )
        return {"id": rule.id, "fault": rule.to_json()}

    async def fault_delete(request: Request) -> dict[str, Any]:
        return {"removed": state.faults.remove(request.path_params["fault_id"])}

    async def calls(request: Request) -> dict[str, Any]:
        if request.method == "DELETE":
            state.faults.calls.clear()
            state.timeline.clear()
            return {"cleared": True}
        platform = request.query_params.get("platform")
        if platform:
            prefix = _prefix(platform)
            return {prefix: dict(state.faults.calls.get(prefix, {}))}
        return {k: dict(v) for k, v in state.faults.calls.items()}

    async def calls_timeline(request: Request) -> dict[str, Any]:
        resolution_s = float(request.query_params.get("resolution_ms", "1000")) / 1000
        if not 0.1 <= resolution_s <= 3600:  # noqa: PLR2004 - the slot size and an hour
            raise ControlError("resolution_ms must be between 100 and 3600000")
        platform = request.query_params.get("platform")
        names = [_prefix(platform)] if platform else state.timeline.platforms()
        return {
            name: [list(bucket) for bucket in state.timeline.buckets(name, resolution_s)]
            for name in names
        }

    async def users(request: Request) -> dict[str, Any]:
        provider = _provider(request.path_params["platform"], request.query_params.get("instance"))
        name = request.path_params["name"]
        if request.method == "PUT":
            return _user_json(state.users.put(provider, name, await _json(request)))
        user = state.users.get(provider, name)
        if user is None:
            raise ControlError("unknown user", 404)
        return _user_json(user)

    async def clients(request: Request) -> dict[str, Any]:
        provider = _provider(request.path_params["platform"], request.query_params.get("instance"))
        data = await _json(request)
        state.client_secrets[provider, request.path_params["client_id"]] = str(
            data["client_secret"]
        )
        return {"registered": True}

    async def mastodon_registrations(_: Request) -> dict[str, Any]:
        return dict(state.mastodon.registrations)

    async def mastodon_vacuum(request: Request) -> dict[str, Any]:
        return {"removed": state.mastodon.vacuum(request.path_params["instance"])}

    async def bluesky_account(request: Request) -> dict[str, Any]:
        data = await _json(request)
        account = state.bluesky.add(str(data["handle"]))
        if "app_password" in data and data["app_password"] != account.app_password:
            if account.app_password is not None:
                # A changed app password takes its sessions with it, as on a real PDS.
                state.store.revoke_grants(
                    lambda g: g.provider == "bluesky" and g.user == account.did
                )
            account.app_password = str(data["app_password"])
        if "main_password" in data:
            account.main_password = str(data["main_password"]) if data["main_password"] else None
        if "status" in data:
            account.status = str(data["status"]) if data["status"] else None
        if "appview" in data:
            account.appview = bool(data["appview"])
        return {"did": account.did, "handle": account.handle, "status": account.status}

    return Mount(
        "/_control",
        routes=[
            Route("/health", handler(health), methods=["GET"]),
            Route("/reset", handler(reset), methods=["POST"]),
            Route("/clock", handler(clock), methods=["GET", "POST"]),
            Route("/config", handler(config), methods=["GET", "POST"]),
            Route("/secrets", handler(issued_secrets), methods=["GET"]),
            Route("/tokens/revoke", handler(revoke), methods=["POST"]),
            Route("/tokens/expire", handler(expire), methods=["POST"]),
            Route("/tokens/issue", handler(issue), methods=["POST"]),
            Route("/tokens/{token:path}", handler(token_info), methods=["GET"]),
            Route("/faults", handler(faults), methods=["GET", "POST", "DELETE"]),
            Route("/faults/{fault_id}", handler(fault_delete), methods=["DELETE"]),
            Route("/calls", handler(calls), methods=["GET", "DELETE"]),
            Route("/calls/timeline", handler(calls_timeline), methods=["GET"]),
            Route("/users/{platform}/{name}", handler(users), methods=["GET", "PUT"]),
            Route("/clients/{platform}/{client_id}", handler(clients), methods=["PUT"]),
            Route("/mastodon/registrations", handler(mastodon_registrations), methods=["GET"]),
            Route("/mastodon/{instance}/apps", handler(mastodon_vacuum), methods=["DELETE"]),
            Route("/bluesky/accounts", handler(bluesky_account), methods=["POST"]),
        ],
    )


# (access lifetime, refresh lifetime: seconds, True = never expires, False = no refresh token)
_LIFETIMES: dict[str, tuple[float | None, float | bool]] = {
    "linkedin": (ttl.LINKEDIN_ACCESS, ttl.LINKEDIN_REFRESH),
    "x": (ttl.X_ACCESS, True),
    "facebook": (ttl.FACEBOOK_LONG, False),
    "instagram": (ttl.META_LONG, False),
    "threads": (ttl.META_LONG, False),
    "tiktok": (ttl.TIKTOK_ACCESS, ttl.TIKTOK_REFRESH),
    "google": (ttl.GOOGLE_ACCESS, True),
    "pinterest": (ttl.PINTEREST_ACCESS, ttl.PINTEREST_REFRESH),
    "mastodon": (None, False),
}
