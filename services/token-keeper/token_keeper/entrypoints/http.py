"""token-keeper's HTTP route: a valid token on demand, for publishers (service credential)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import SecretStr

from mooring.service.auth import service_credential
from mooring.service.problems import PROBLEM_JSON
from token_keeper.entrypoints.problems import token_errors
from token_keeper.entrypoints.schemas import TokenOut
from token_keeper.service_layer.tokens import TokenDesk

__all__ = ["build_routers"]

Responses = dict[int | str, dict[str, Any]]


def _problem(status_code: int, description: str) -> Responses:
    return {status_code: {"description": description, "content": {PROBLEM_JSON: {}}}}


_RESPONSES: Responses = (
    _problem(401, "Missing or wrong service token.")
    | _problem(404, "No such account (`account-not-found`).")
    | _problem(
        409,
        "The account is not connected (`account-not-connected`, with its `account_status`), is "
        "deactivated (`account-inactive`), or the platform refused the refresh by rule "
        "(`refresh-refused`, with its `reason`): the owner must act.",
    )
    | _problem(422, "The account id is not a UUID.")
    | _problem(
        503,
        "The token would not last the margin and the platform cannot refresh it now "
        "(`refresh-unavailable`): retry after Retry-After.",
    )
)


def build_routers(desk: TokenDesk, service_tokens: Sequence[SecretStr]) -> list[APIRouter]:
    internal = APIRouter(
        prefix="/internal/v1",
        tags=["internal"],
        dependencies=[Depends(service_credential(service_tokens))],
    )

    @internal.get("/accounts/{account_id}/token", responses=_RESPONSES)
    async def account_token(account_id: uuid.UUID, response: Response) -> TokenOut:
        """A token valid for at least the service's margin, refreshed first if it would not
        be. One refresh reaches the platform however many callers ask at once."""
        with token_errors():
            issued = await desk.token(account_id)
        response.headers["Cache-Control"] = "no-store"
        return TokenOut.of(issued)

    return [internal]
