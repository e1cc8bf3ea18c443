"""The sweep's read port: connected accounts, page by page, with the facts the rules need."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from token_keeper.domain.windows import RefreshRules, TokenFacts

__all__ = ["AbstractDueAccounts", "SweepRow"]


@dataclass(frozen=True)
class SweepRow:
    """One connected account as the sweep sees it: no secret, only whether a refresh token
    is held."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    facts: TokenFacts
    meta: Mapping[str, Any] = field(default_factory=dict)
    # The sealed credentials do not open (a key removed from the keyring, a damaged row): the
    # sweep skips and counts the account instead of failing every other one on the page.
    unreadable: bool = False


class AbstractDueAccounts(abc.ABC):
    @abc.abstractmethod
    async def page(
        self,
        *,
        after: uuid.UUID | None,
        limit: int,
        now: datetime,
        rules: RefreshRules,
        retries_only: bool,
    ) -> Sequence[SweepRow]:
        """Up to `limit` connected accounts with an id greater than `after` (keyset, by id) that
        may be due: a superset of what the rules pick, never a subset. `retries_only`: only
        accounts whose wait after a failed refresh (`next_refresh_at`) is over."""

    @abc.abstractmethod
    async def count(self, *, now: datetime, rules: RefreshRules, retries_only: bool) -> int:
        """How many rows a full walk with these arguments returns (for the progress line)."""
