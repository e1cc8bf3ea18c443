"""Connected accounts holding real simulator tokens, written straight to the `accounts` table.

Minting through the simulator's control API skips the consent flow, so thousands of accounts
cost one request and one insert per thousand; the tokens work at the simulator like any other.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.accounts.model import Credentials
from mooring.db.tables import accounts
from mooring.settings import VaultSettings
from mooring.vault import Vault, account_aad
from tests.system import System

__all__ = ["mint", "seed", "system_vault"]

_CHUNK = 1000
CLIENT_ID = "mooring-dev"  # simulator_environment's: refresh tokens are bound to their client


def system_vault(system: System) -> Vault:
    """The vault the system's services seal with."""
    return Vault.from_settings(
        VaultSettings(
            keys=SecretStr(system.env["MOORING_VAULT_KEYS"]),
            current_key_id=system.env["MOORING_VAULT_CURRENT_KEY_ID"],
        )
    )


async def mint(
    sim_url: str, platform: str, count: int, *, user: str, scopes: list[str]
) -> list[dict[str, Any]]:
    """`count` token pairs (access, refresh when the platform has one) for one simulator user."""
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(
            f"{sim_url}/_control/tokens/issue",
            json={
                "platform": platform,
                "user": user,
                "count": count,
                "client_id": CLIENT_ID,
                "scopes": scopes,
            },
        )
    response.raise_for_status()
    tokens: list[dict[str, Any]] = response.json()["tokens"]
    return tokens


async def seed(
    engine: AsyncEngine,
    vault: Vault,
    platform: str,
    tokens: list[dict[str, Any]],
    *,
    expires_in: timedelta,
    issued_ago: timedelta,
    scopes: tuple[str, ...] = (),
    workspaces: int = 1,
) -> list[uuid.UUID]:
    """One connected account per token pair, spread over `workspaces` new workspaces."""
    now = datetime.now(UTC)
    spaces = [uuid.uuid4() for _ in range(workspaces)]
    ids: list[uuid.UUID] = []
    for start in range(0, len(tokens), _CHUNK):
        rows = []
        for number, pair in enumerate(tokens[start : start + _CHUNK], start=start):
            account_id = uuid.uuid4()
            refresh = pair.get("refresh_token")
            credentials = Credentials(
                access_token=SecretStr(pair["access_token"]),
                refresh_token=SecretStr(refresh) if refresh else None,
                scopes=scopes,
            )
            rows.append(
                {
                    "id": account_id,
                    "workspace_id": spaces[number % workspaces],
                    "platform": platform,
                    "platform_account_id": account_id.hex,
                    "credentials": vault.encrypt(
                        credentials.to_plaintext(), aad=account_aad(account_id)
                    ),
                    "token_expires_at": now + expires_in,
                    "token_issued_at": now - issued_ago,
                }
            )
            ids.append(account_id)
        async with engine.begin() as conn:
            await conn.execute(insert(accounts), rows)
    return ids
