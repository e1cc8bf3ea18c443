"""The notifier's HTTP routes: the public feed and preferences, and the internal directory and
delivery desk.

Who may do what on public routes (gateway JWT, scoped to the token's workspace; another
workspace's id answers 404, like a notification of another workspace):

| route | owner | admin | member |
|---|---|---|---|
| list notifications, unread count | yes | yes | yes |
| mark one / all read (the caller's own read state) | yes | yes | yes |
| read the e-mail preferences | yes | yes | yes |
| change the e-mail preferences | yes | 403 | 403 |

Members see the feed because what it reports (an account that stopped working, posts that
failed) is what they need to know before they schedule posts, and they can already read the
accounts themselves; reading changes nothing for anyone else. The e-mails go to the owner, so
only the owner decides which ones they get.
"""

# No `from __future__ import annotations` here: the routes' annotations name a dependency built
# at run time (the gateway's settings), which FastAPI must see as an object, not a string.
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import SecretStr

from mooring.service.auth import (
    GatewayJwtSettings,
    Principal,
    service_credential,
    workspace_principal,
)
from mooring.service.problems import PROBLEM_JSON
from notifier.domain.incidents import DeliveryStatus
from notifier.entrypoints.problems import domain_errors, owner_not_found, owner_only
from notifier.entrypoints.schemas import (
    Cursor,
    DeliveryOut,
    NotificationOut,
    NotificationPageOut,
    OwnerIn,
    OwnerOut,
    PreferencesIn,
    PreferencesOut,
    UnreadOut,
    decode_cursor,
    encode_cursor,
)
from notifier.service_layer.directory import Directory
from notifier.service_layer.inbox import Inbox
from notifier.service_layer.mailer import DeliveryDesk

__all__ = ["build_routers"]

Responses = dict[int | str, dict[str, Any]]


def _problem(status_code: int, description: str) -> Responses:
    return {status_code: {"description": description, "content": {PROBLEM_JSON: {}}}}


_401 = _problem(401, "Missing or wrong bearer token.")
_403 = _problem(403, "Only the workspace owner may change the e-mail preferences.")
_404_WS = _problem(404, "No such workspace for this token.")
_404_NOTIFICATION = _problem(404, "No such notification in this workspace (or workspace).")
_404_OWNER = _problem(404, "No owner is known for this workspace.")
_404_DELIVERY = _problem(404, "No such delivery.")
_409 = _problem(409, "The delivery is not failed, so there is nothing to retry.")
_422 = _problem(422, "The request is not valid (a field, a query parameter or the cursor).")


def build_routers(
    *,
    inbox: Inbox,
    directory: Directory,
    desk: DeliveryDesk,
    gateway: GatewayJwtSettings,
    service_tokens: Sequence[SecretStr],
) -> list[APIRouter]:
    internal = [Depends(service_credential(service_tokens))]
    workspace_routes = APIRouter(
        prefix="/internal/v1/workspaces/{workspace_id}",
        tags=["internal"],
        dependencies=internal,
        responses=_401,
    )
    _add_directory_routes(workspace_routes, directory)
    delivery_routes = APIRouter(
        prefix="/internal/v1/deliveries", tags=["internal"], dependencies=internal, responses=_401
    )
    _add_delivery_routes(delivery_routes, desk)
    return [_public_router(inbox, directory, gateway), workspace_routes, delivery_routes]


def _public_router(inbox: Inbox, directory: Directory, gateway: GatewayJwtSettings) -> APIRouter:
    public = APIRouter(
        prefix="/v1/workspaces/{workspace_id}",
        tags=["notifications"],
        responses=_401 | _404_WS,
    )
    caller_of = workspace_principal(gateway)
    Caller = Annotated[Principal, Depends(caller_of)]  # noqa: N806 - a type alias

    @public.get("/notifications", responses=_422)
    async def notifications(
        workspace_id: uuid.UUID,
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[Cursor | None, Query()] = None,
        unread: Annotated[bool, Query(description="Only the caller's unread ones.")] = False,
    ) -> NotificationPageOut:
        """The workspace's notifications, newest first, with the caller's unread count."""
        with domain_errors():
            after = decode_cursor(cursor) if cursor is not None else None
        page = await inbox.page(
            workspace_id, caller.user_id, limit=limit, after=after, unread_only=unread
        )
        return NotificationPageOut(
            items=[NotificationOut.of(row) for row in page.items],
            unread_count=page.unread_count,
            next_cursor=encode_cursor(page.next) if page.next is not None else None,
        )

    @public.post("/notifications/read-all")
    async def read_all(workspace_id: uuid.UUID, caller: Caller) -> UnreadOut:
        """Everything up to now is read for the caller (others keep their own state)."""
        return UnreadOut(unread_count=await inbox.mark_all_read(workspace_id, caller.user_id))

    @public.post("/notifications/{notification_id}/read", responses=_404_NOTIFICATION | _422)
    async def read_one(
        workspace_id: uuid.UUID, notification_id: uuid.UUID, caller: Caller
    ) -> NotificationOut:
        """Mark one notification read for the caller (idempotent)."""
        with domain_errors():
            row = await inbox.mark_read(workspace_id, caller.user_id, notification_id)
        return NotificationOut.of(row)

    @public.get("/notification-preferences")
    async def preferences(workspace_id: uuid.UUID, caller: Caller) -> PreferencesOut:
        """Which e-mails the owner gets (every role may read them)."""
        del caller
        return PreferencesOut(
            workspace_id=workspace_id, email=await directory.preferences(workspace_id)
        )

    @public.patch("/notification-preferences", responses=_403 | _422)
    async def change_preferences(
        workspace_id: uuid.UUID, body: PreferencesIn, caller: Caller
    ) -> PreferencesOut:
        """Turn e-mail on or off per kind (owner only); in-app notifications stay."""
        if caller.role != "owner":
            raise owner_only()
        current = await directory.change_preferences(workspace_id, body.changes())
        return PreferencesOut(workspace_id=workspace_id, email=current)

    return public


def _add_directory_routes(router: APIRouter, directory: Directory) -> None:
    @router.put("/owner", responses=_422)
    async def set_owner(workspace_id: uuid.UUID, body: OwnerIn) -> OwnerOut:
        """Record the workspace's owner (the newest `changed_at` wins); held e-mail goes out."""
        change = await directory.change_owner(
            workspace_id, body.user_id, str(body.email), body.changed_at
        )
        assert change.owner is not None  # noqa: S101 - just written, or a newer one was there
        return OwnerOut.of(change.owner, applied=change.applied, released=change.released)

    @router.get("/owner", responses=_404_OWNER)
    async def get_owner(workspace_id: uuid.UUID) -> OwnerOut:
        owner = await directory.owner(workspace_id)
        if owner is None:
            raise owner_not_found()
        return OwnerOut.of(owner)

    @router.get("/notification-preferences")
    async def internal_preferences(workspace_id: uuid.UUID) -> PreferencesOut:
        return PreferencesOut(
            workspace_id=workspace_id, email=await directory.preferences(workspace_id)
        )

    @router.patch("/notification-preferences", responses=_422)
    async def internal_change_preferences(
        workspace_id: uuid.UUID, body: PreferencesIn
    ) -> PreferencesOut:
        current = await directory.change_preferences(workspace_id, body.changes())
        return PreferencesOut(workspace_id=workspace_id, email=current)


def _add_delivery_routes(router: APIRouter, desk: DeliveryDesk) -> None:
    @router.get("", responses=_422)
    async def deliveries(
        status: DeliveryStatus | None = None,
        workspace_id: uuid.UUID | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> list[DeliveryOut]:
        """The e-mail queue, newest first: what waits, what went, what failed and why."""
        found = await desk.list(
            status=status, workspace_id=workspace_id, limit=limit, offset=offset
        )
        return [DeliveryOut.of(view) for view in found]

    @router.get("/{delivery_id}", responses=_404_DELIVERY | _422)
    async def delivery(delivery_id: uuid.UUID) -> DeliveryOut:
        with domain_errors():
            return DeliveryOut.of(await desk.get(delivery_id))

    @router.post("/{delivery_id}/retry", responses=_404_DELIVERY | _409 | _422)
    async def retry(delivery_id: uuid.UUID) -> DeliveryOut:
        """Send a failed delivery again (after its cause was fixed)."""
        with domain_errors():
            return DeliveryOut.of(await desk.retry(delivery_id))
