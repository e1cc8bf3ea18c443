"""`social:refresh-expiring-tokens` and `social:retry-failed-refreshes`: find due accounts and
publish one `token.expiring` each, page by page.

Each page is one unit of work: read up to `page_size` accounts after the last id seen, emit a
`token.expiring` (keyed by account id) for each one due, commit; the relay publishes them and
the workers refresh. Nothing but the page is held in memory. A reconnect reminder also records,
on the account and in the same transaction, which threshold went out, so a repeated sweep (or a
crashed one run again) never reminds twice.

The retry sweep is the same walk restricted to accounts whose wait after a failed refresh is
over: it is what brings them back before the next hourly sweep.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mooring.events.base import utcnow
from mooring.events.token import TokenExpiring
from mooring.service.scheduler import JobContext
from token_keeper.adapters.metrics import KeeperMetrics
from token_keeper.adapters.port import SweepRow
from token_keeper.domain.windows import (
    RefreshRules,
    TokenFacts,
    effective_expiry,
    refresh_due,
    reminder_due,
    reminders_sent,
    with_reminder_sent,
)
from token_keeper.service_layer.unit_of_work import AbstractKeeperUnitOfWork

__all__ = ["Sweep", "SweepReport"]

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    scanned: int = 0
    refresh: int = 0
    reminders: int = 0
    unreadable: int = 0


class Sweep:
    def __init__(
        self,
        *,
        uow: Callable[[], AbstractKeeperUnitOfWork],
        rules: RefreshRules,
        page_size: int,
        metrics: KeeperMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._uow = uow
        self._rules = rules
        self._page_size = page_size
        self._metrics = metrics
        self._clock = clock

    async def refresh_expiring(self, ctx: JobContext) -> None:
        """The hourly job: refreshes due and reconnect reminders."""
        await self.run(ctx, retries_only=False)

    async def retry_failed(self, ctx: JobContext) -> None:
        """The frequent job: accounts whose cooldown after a failed refresh is over."""
        await self.run(ctx, retries_only=True)

    async def run(
        self, ctx: JobContext | None = None, *, retries_only: bool = False
    ) -> SweepReport:
        sweep_id = ctx.run_id if ctx is not None else uuid.uuid4()
        report = SweepReport()
        async with self._uow() as uow:
            total = await uow.due.count(
                now=self._clock(), rules=self._rules, retries_only=retries_only
            )
        after: uuid.UUID | None = None
        while True:
            now = self._clock()
            async with self._uow() as uow:
                rows = await uow.due.page(
                    after=after,
                    limit=self._page_size,
                    now=now,
                    rules=self._rules,
                    retries_only=retries_only,
                )
                for row in rows:
                    await self._consider(
                        uow, row, now, sweep_id, report, reminders=not retries_only
                    )
                await uow.commit()
            if not rows:
                break
            after = rows[-1].id
            report.scanned += len(rows)
            if ctx is not None:
                ctx.progress(
                    report.scanned, total, refresh=report.refresh, reminders=report.reminders
                )
        logger.info(
            "sweep done",
            extra={"sweep_id": str(sweep_id), "retries_only": retries_only,
                   "scanned": report.scanned, "refresh": report.refresh,
                   "reminders": report.reminders, "unreadable": report.unreadable},
        )  # fmt: skip
        return report

    async def _consider(
        self,
        uow: AbstractKeeperUnitOfWork,
        row: SweepRow,
        now: datetime,
        sweep_id: uuid.UUID,
        report: SweepReport,
        *,
        reminders: bool,
    ) -> None:
        facts = row.facts
        if row.unreadable:
            # Nothing can refresh it until the key is back; the rest of the page goes on.
            report.unreadable += 1
            self._count(facts.platform, "unreadable")
            logger.error(
                "account credentials do not open with the keyring; skipped",
                extra={"account_id": str(row.id), "platform": facts.platform},
            )
            return
        expiry = effective_expiry(facts.description, facts.expires_at, facts.issued_at)
        if expiry is None:
            return  # never expires: nothing to do, ever
        if refresh_due(facts, self._rules, now):
            uow.emit(self._expiring(row, expiry, sweep_id, refreshable=True))
            report.refresh += 1
            self._count(facts.platform, "refresh")
            return
        if not reminders:
            return
        days = reminder_due(facts, self._rules, now, reminders_sent(row.meta, expiry))
        if days is not None and await self._remind(uow, row, now, sweep_id):
            report.reminders += 1
            self._count(facts.platform, "reminder")

    async def _remind(
        self,
        uow: AbstractKeeperUnitOfWork,
        row: SweepRow,
        now: datetime,
        sweep_id: uuid.UUID,
    ) -> bool:
        # Decided again under the row lock, on the row as it is now (a reconnect may have
        # brought a new expiry, or a refresh token, since the page was read).
        account = await uow.accounts.get(row.id, lock=True)
        if account is None or account.status != "connected":
            return False
        facts = TokenFacts.of(account)
        expiry = effective_expiry(facts.description, facts.expires_at, facts.issued_at)
        if expiry is None:
            return False
        due = reminder_due(facts, self._rules, now, reminders_sent(account.meta, expiry))
        if due is None:
            return False
        account.meta = with_reminder_sent(account.meta, expiry, due, self._rules)
        await uow.accounts.save(account)
        uow.emit(
            TokenExpiring(
                account_id=account.id,
                workspace_id=account.workspace_id,
                platform=account.platform,
                expires_at=expiry,
                refreshable=False,
                reminder_days=due,
                sweep_id=sweep_id,
            )
        )
        return True

    @staticmethod
    def _expiring(
        row: SweepRow, expiry: datetime, sweep_id: uuid.UUID, *, refreshable: bool
    ) -> TokenExpiring:
        return TokenExpiring(
            account_id=row.id,
            workspace_id=row.workspace_id,
            platform=row.facts.platform,
            expires_at=expiry,
            refreshable=refreshable,
            sweep_id=sweep_id,
        )

    def _count(self, platform: str, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.due.labels(platform, kind).inc()
