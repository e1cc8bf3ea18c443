"""Connects as the gateway and a person's browser do them, over real HTTP.

start    the gateway asks the connector (POST .../connections) for an authorization URL;
consent  the browser opens it at the simulator and approves as `user` (the simulator's
         non-interactive consent: `sim_user` + `sim_decision`), which answers with a 302 to
         the connector's callback;
callback the browser follows it to the connector, which answers with a 303 to the landing URL.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from .conftest import REDIRECT, Stack

__all__ = ["callback", "connect", "consent", "landing_of", "start"]


def landing_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT), location
    return dict(parse_qsl(urlsplit(location).query))


async def start(
    client: httpx.AsyncClient, workspace_id: uuid.UUID, platform: str, **fields: Any
) -> httpx.Response:
    body = {"platform": platform, "redirect_url": REDIRECT, **fields}
    return await client.post(f"/v1/workspaces/{workspace_id}/connections", json=body)


async def consent(authorization_url: str, user: str, decision: str = "approve") -> str:
    """The callback URL the simulator sends the browser to (without Meta's `#_` fragment)."""
    params = urlencode({"sim_user": user, "sim_decision": decision})
    async with httpx.AsyncClient(timeout=30) as browser:
        answer = await browser.get(f"{authorization_url}&{params}")
    assert answer.status_code == 302, answer.text[:300]
    return answer.headers["location"].split("#", 1)[0]


async def callback(stack: Stack, url: str) -> httpx.Response:
    async with stack.client() as browser:  # the browser carries no gateway token
        return await browser.get(url)


async def connect(
    stack: Stack,
    client: httpx.AsyncClient,
    workspace_id: uuid.UUID,
    platform: str,
    user: str,
    **fields: Any,
) -> dict[str, str]:
    started = await start(client, workspace_id, platform, **fields)
    assert started.status_code == 201, started.text
    return landing_of(
        await callback(stack, await consent(started.json()["authorization_url"], user))
    )
