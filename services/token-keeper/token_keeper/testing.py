"""Fakes for unit tests: the sweep's read port over the fake account repository, a unit of
work that carries it, and a scripted platform adapter that counts its calls."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import SecretStr

from mooring.platforms.base import PlatformAdapter
from mooring.platforms.descriptions import PlatformDescription
from mooring.platforms.exceptions import PlatformError
from mooring.platforms.outcomes import Classification
from mooring.platforms.registry import get_description
from mooring.platforms.results import Candidate, Profile, TokenSet
from mooring.uow import FakeAccountRepository, FakeUnitOfWork
from token_keeper.adapters.port import AbstractDueAccounts, SweepRow
from token_keeper.domain.windows import RefreshRules, TokenFacts
from token_keeper.service_layer.unit_of_work import AbstractKeeperUnitOfWork

__all__ = ["FakeDueAccounts", "FakeKeeperUnitOfWork", "ScriptedAdapter", "fresh_tokens"]


class FakeDueAccounts(AbstractDueAccounts):
    """Every connected account, by id: a superset of what is due, as the port allows."""

    def __init__(self, accounts: FakeAccountRepository) -> None:
        self._accounts = accounts

    def _connected(self) -> list[SweepRow]:
        rows = [
            SweepRow(
                id=a.id, workspace_id=a.workspace_id, facts=TokenFacts.of(a), meta=dict(a.meta)
            )
            for a in self._accounts.rows.values()
            if a.status == "connected"
        ]
        return sorted(rows, key=lambda r: r.id)

    async def page(
        self,
        *,
        after: uuid.UUID | None,
        limit: int,
        now: datetime,
        rules: RefreshRules,  # noqa: ARG002 - a superset needs no rules
        retries_only: bool,
    ) -> Sequence[SweepRow]:
        rows = [
            r
            for r in self._connected()
            if (after is None or r.id > after)
            and (not retries_only or (r.facts.next_refresh_at is not None
                                      and r.facts.next_refresh_at <= now))
        ]  # fmt: skip
        return rows[:limit]

    async def count(self, *, now: datetime, rules: RefreshRules, retries_only: bool) -> int:
        return len(await self.page(after=None, limit=10**9, now=now, rules=rules,
                                   retries_only=retries_only))  # fmt: skip


class FakeKeeperUnitOfWork(FakeUnitOfWork, AbstractKeeperUnitOfWork):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.due = FakeDueAccounts(self.accounts)


@dataclass
class ScriptedAdapter(PlatformAdapter):
    """Answers refreshes from `script` (a TokenSet to return, or a Classification to raise),
    the last entry repeating; `verify` answers `verify_answer`. Counts every call."""

    platform: str
    script: list[TokenSet | Classification] = field(default_factory=list)
    verify_answer: Classification = field(default_factory=Classification.ok)
    refreshes: int = 0
    verifies: int = 0

    @property
    def description(self) -> PlatformDescription:
        return get_description(self.platform)

    async def fetch_profile(self, tokens: TokenSet) -> Profile:  # noqa: ARG002
        return Profile(platform_account_id="1")

    async def list_candidates(self, tokens: TokenSet) -> tuple[Candidate, ...]:  # noqa: ARG002
        return ()

    async def refresh(self, tokens: TokenSet) -> TokenSet:  # noqa: ARG002
        self.refreshes += 1
        answer = self.script[min(self.refreshes - 1, len(self.script) - 1)]
        if isinstance(answer, Classification):
            raise PlatformError(self.platform, answer)
        return answer

    async def verify(self, tokens: TokenSet) -> Classification:  # noqa: ARG002
        self.verifies += 1
        return self.verify_answer


def fresh_tokens(
    now: datetime, *, lifetime: timedelta | None = timedelta(hours=2), refresh: str | None = "r2"
) -> TokenSet:
    """A refresh answer issued at `now`."""
    return TokenSet(
        access_token=SecretStr(f"a-{uuid.uuid4().hex}"),
        refresh_token=SecretStr(refresh) if refresh else None,
        issued_at=now,
        expires_at=now + lifetime if lifetime is not None else None,
    )
