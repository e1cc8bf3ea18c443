"""Calls to action: where a message sends the owner (the product's own pages, never a token).

Templates come from settings and may name `{workspace_id}` and `{account_id}` only; the ids are
UUIDs, so nothing a third party controls ends up in a link.
"""

from __future__ import annotations

import string
import uuid
from dataclasses import dataclass

__all__ = ["Links", "check_template"]

_FIELDS = frozenset({"workspace_id", "account_id"})


def check_template(template: str, allowed: frozenset[str] = _FIELDS) -> str:
    """`template` if it is an http(s) URL naming only `allowed` fields; ValueError otherwise."""
    if not template.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    named = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    unknown = named - allowed
    if unknown:
        raise ValueError(f"may name only {sorted(allowed)}, not {sorted(unknown)}")
    return template


@dataclass(frozen=True)
class Links:
    reconnect: str  # {workspace_id}, {account_id}
    accounts: str  # {workspace_id}
    preferences: str  # {workspace_id}

    def reconnect_url(self, workspace_id: uuid.UUID, account_id: uuid.UUID) -> str:
        return self.reconnect.format(workspace_id=workspace_id, account_id=account_id)

    def accounts_url(self, workspace_id: uuid.UUID) -> str:
        return self.accounts.format(workspace_id=workspace_id)

    def preferences_url(self, workspace_id: uuid.UUID) -> str:
        return self.preferences.format(workspace_id=workspace_id)
