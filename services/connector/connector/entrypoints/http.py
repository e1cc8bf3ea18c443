"""The connector's HTTP routes: the public API the gateway calls, thin over the use cases.

Readers (any member of the workspace) list and read; managers (owners and admins) connect,
select, toggle and remove. Another workspace's token gets 404 (the kernel's auth), and so does
another workspace's account or connection id. The platform callback carries no token: its state
is the credential, and its answer is a 303 to the redirect URL the connect started with.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import RedirectResponse

from connector.domain.platforms import catalogue
from connector.entrypoints.problems import domain_errors
from connector.entrypoints.schemas import (
    AccountOut,
    AccountPageOut,
    AccountPatch,
    BlueskyIn,
    ConnectIn,
    ConnectionOut,
    ConnectionStartedOut,
    PlatformOut,
    SelectionIn,
    SelectionOut,
    decode_cursor,
    encode_cursor,
)
from connector.service_layer.accounts import AccountRegistry
from connector.service_layer.bluesky import BlueskyConnect
from connector.service_layer.connect import ConnectFlows, Landing, StartRequest
from mooring.accounts import AccountStatus
from mooring.service.auth import GatewayJwtSettings, Principal, workspace_principal
from mooring.service.fields import PlatformId
from mooring.service.problems import PROBLEM_JSON, Problem

__all__ = ["Outcomes", "build_routers"]

Responses = dict[int | str, dict[str, Any]]


def _problem(status_code: int, description: str) -> Responses:
    return {status_code: {"description": description, "content": {PROBLEM_JSON: {}}}}


_401 = _problem(401, "Missing, expired or invalid gateway token.")
_403 = _problem(403, "Owners and admins only.")
_404 = _problem(404, "No such account or connection in this workspace (or another workspace's).")
_402 = _problem(402, "Plan limit reached: plan, limit, used, reserved, upgrade_to.")
_409 = _problem(409, "A reconnect signed in another account, or there is nothing to select.")
_410 = _problem(410, "The connection's state expired.")
_422 = _problem(422, "The request is not valid (fields, redirect URL, platform input).")
_429 = _problem(429, "Too many connect starts for this workspace; see Retry-After.")
_503 = _problem(
    503, "Billing-gate or the platform did not answer; nothing was made. See Retry-After."
)
_400 = _problem(400, "Unknown or missing state: nothing says where to send the user.")
_LANDING: Responses = {
    303: {"description": "To the redirect URL with connected=, selection= or error=."}
}
_RECONNECTED: Responses = {
    200: {"description": "An account the workspace had, reconnected in place."}
}
_READ = _401 | _404 | _422
_MANAGE = _401 | _403 | _404 | _422


# Connect outcomes by platform for the service's metrics: started, connected, selection, or an
# error code of the callback.
Outcomes = Callable[[str, str], None]


def build_routers(
    *,
    flows: ConnectFlows,
    bluesky: BlueskyConnect,
    registry: AccountRegistry,
    gateway: GatewayJwtSettings,
    outcomes: Outcomes,
) -> list[APIRouter]:
    reader = Depends(workspace_principal(gateway))
    manager = Depends(workspace_principal(gateway, manage=True))
    workspace = "/v1/workspaces/{workspace_id}"
    public = APIRouter(tags=["platforms"])
    connections = APIRouter(prefix=workspace, tags=["connections"])
    accounts = APIRouter(prefix=workspace, tags=["accounts"])
    _platform_routes(public, flows, outcomes)
    _connection_routes(connections, flows, reader, manager, outcomes)
    _bluesky_route(accounts, bluesky, manager, outcomes)
    _account_routes(accounts, registry, reader, manager)
    return [public, connections, accounts]


def _platform_routes(router: APIRouter, flows: ConnectFlows, outcomes: Outcomes) -> None:
    @router.get("/v1/platforms")
    async def platforms() -> list[PlatformOut]:
        """The 12 platforms: how each connects, whether a selection follows, how it refreshes."""
        return [PlatformOut.of(info) for info in catalogue()]

    @router.get(
        "/v1/oauth/{platform}/callback",
        tags=["connections"],
        status_code=status.HTTP_303_SEE_OTHER,
        response_class=RedirectResponse,
        responses=_LANDING | _400 | _422,
    )
    async def callback(
        platform: PlatformId,
        code: Annotated[str | None, Query(max_length=4096)] = None,
        state: Annotated[str | None, Query(max_length=512)] = None,
        error: Annotated[str | None, Query(max_length=256)] = None,
    ) -> RedirectResponse:
        """Where the platform sends the user back. The state is single-use; every outcome but an
        unknown state lands on the redirect URL the connect started with."""
        with domain_errors():
            landing: Landing = await flows.callback(platform, state=state, code=code, error=error)
        outcomes(platform, landing.outcome)
        return RedirectResponse(
            landing.url,
            status_code=status.HTTP_303_SEE_OTHER,
            # The callback URL carried a code: keep it out of caches and of the next Referer.
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )


def _connection_routes(
    router: APIRouter, flows: ConnectFlows, reader: Any, manager: Any, outcomes: Outcomes
) -> None:
    @router.post(
        "/connections",
        status_code=status.HTTP_201_CREATED,
        responses=_MANAGE | _402 | _429 | _503,
    )
    async def start(
        workspace_id: uuid.UUID,
        body: ConnectIn,
        principal: Principal = manager,
    ) -> ConnectionStartedOut:
        """Start an OAuth connect: the authorization URL to send the user to (402 at the cap,
        unless it reconnects an account the workspace has)."""
        with domain_errors():
            started = await flows.start(
                StartRequest(
                    workspace_id=workspace_id,
                    user_id=principal.user_id,
                    platform=body.platform,
                    redirect_url=body.redirect_url,
                    instance_url=body.instance_url,
                    reconnect_account_id=body.reconnect_account_id,
                )
            )
        outcomes(body.platform, "started")
        return ConnectionStartedOut.of(started)

    @router.get("/connections/{connection_id:uuid}", dependencies=[reader], responses=_READ)
    async def connection(workspace_id: uuid.UUID, connection_id: uuid.UUID) -> ConnectionOut:
        """The connection's status and, while selecting, its candidates (never a token)."""
        with domain_errors():
            view = await flows.connection(workspace_id, connection_id)
        return ConnectionOut.of(view)

    @router.post(
        "/connections/{connection_id:uuid}/selection",
        status_code=status.HTTP_201_CREATED,
        dependencies=[manager],
        responses=_MANAGE | _402 | _409 | _410 | _503,
    )
    async def select(
        workspace_id: uuid.UUID, connection_id: uuid.UUID, body: SelectionIn
    ) -> SelectionOut:
        """One account per chosen candidate, all or none: 402 when they do not all fit."""
        with domain_errors():
            admitted = await flows.select(workspace_id, connection_id, body.candidate_ids)
        for item in admitted:
            outcomes(item.account.platform, "connected")
        return SelectionOut(accounts=[AccountOut.of(a.account) for a in admitted])


def _bluesky_route(
    router: APIRouter, bluesky: BlueskyConnect, manager: Any, outcomes: Outcomes
) -> None:
    @router.post(
        "/accounts/bluesky",
        status_code=status.HTTP_201_CREATED,
        dependencies=[manager],
        responses=_RECONNECTED | _MANAGE | _402 | _409 | _429 | _503,
    )
    async def connect_bluesky(
        workspace_id: uuid.UUID, body: BlueskyIn, response: Response
    ) -> AccountOut:
        """Connect Bluesky with a handle and an app password (never the main password)."""
        with domain_errors():
            admitted = await bluesky.connect(
                workspace_id,
                handle=body.handle,
                app_password=body.app_password,
                reconnect_account_id=body.reconnect_account_id,
            )
        if not admitted.created:
            response.status_code = status.HTTP_200_OK
        outcomes("bluesky", "connected")
        return AccountOut.of(admitted.account)


def _account_routes(
    router: APIRouter, registry: AccountRegistry, reader: Any, manager: Any
) -> None:
    @router.get("/accounts", dependencies=[reader], responses=_READ)
    async def list_accounts(
        workspace_id: uuid.UUID,
        platform: PlatformId | None = None,
        account_status: Annotated[AccountStatus | None, Query(alias="status")] = None,
        active: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> AccountPageOut:
        """The workspace's accounts, oldest first; `next_cursor` continues."""
        try:
            after = decode_cursor(cursor) if cursor else None
        except ValueError:
            raise Problem(
                422, "validation-error", "The request is not valid", "cursor is not valid"
            ) from None
        page = await registry.page(
            workspace_id,
            platform=platform,
            status=account_status,
            active=active,
            limit=limit,
            after=after,
        )
        return AccountPageOut(
            items=[AccountOut.of(a) for a in page.accounts],
            next_cursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
        )

    @router.get("/accounts/{account_id:uuid}", dependencies=[reader], responses=_READ)
    async def get_account(workspace_id: uuid.UUID, account_id: uuid.UUID) -> AccountOut:
        with domain_errors():
            return AccountOut.of(await registry.get(workspace_id, account_id))

    @router.patch("/accounts/{account_id:uuid}", dependencies=[manager], responses=_MANAGE)
    async def patch_account(
        workspace_id: uuid.UUID, account_id: uuid.UUID, body: AccountPatch
    ) -> AccountOut:
        """Toggle `active` (account.updated when it changes); scheduled posts are unaffected."""
        with domain_errors():
            return AccountOut.of(await registry.set_active(workspace_id, account_id, body.active))

    @router.delete(
        "/accounts/{account_id:uuid}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=[manager],
        responses=_MANAGE,
    )
    async def delete_account(workspace_id: uuid.UUID, account_id: uuid.UUID) -> None:
        """Remove the account: account.disconnected (reason removed), its slot freed; nothing
        is revoked on the platform and published posts stay."""
        with domain_errors():
            await registry.remove(workspace_id, account_id)
