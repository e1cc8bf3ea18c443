"""Check runs and their batches in PostgreSQL (one session; the caller commits).

Planning reads the shared `accounts` table once, in SQL: every account in the checked statuses,
numbered per platform in id order and cut every `batch_size`, so a run of 100,000 accounts is
planned in one statement without loading them. Times are the database's clock.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Row, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from health_checker.adapters.port import AbstractCheckRepository
from health_checker.adapters.tables import hc_check_batches, hc_check_runs, hc_quota_usage
from health_checker.domain.runs import Batch, BatchState, CheckRun, RunStatus, RunSummary
from mooring.accounts.model import AccountStatus
from mooring.db.tables import accounts

__all__ = ["CheckRepository"]

_R = hc_check_runs.c
_B = hc_check_batches.c

_PLAN = text("""
WITH ranked AS (
  SELECT platform, id,
         row_number() OVER (PARTITION BY platform ORDER BY id) AS rn,
         count(*) OVER (PARTITION BY platform) AS total
  FROM accounts WHERE status = ANY(CAST(:statuses AS text[]))
), bounds AS (
  SELECT platform, id AS last_id, rn, total FROM ranked WHERE rn % :size = 0 OR rn = total
)
INSERT INTO hc_check_batches (run_id, seq, platform, after_id, last_id, planned)
SELECT CAST(:run_id AS uuid),
       CAST(row_number() OVER (ORDER BY platform, rn) AS integer),
       platform,
       lag(last_id) OVER (PARTITION BY platform ORDER BY rn),
       CASE WHEN rn = total THEN NULL ELSE last_id END,
       CAST(rn - coalesce(lag(rn) OVER (PARTITION BY platform ORDER BY rn), 0) AS integer)
FROM bounds
""")

# Adds `:delta` (a JSON object of counts) to a batch's counts, key by key.
_MERGED_COUNTS = """(
  SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb) FROM (
    SELECT key, sum(CAST(value AS integer)) AS total FROM (
      SELECT key, value FROM jsonb_each_text(hc_check_batches.counts)
      UNION ALL SELECT key, value FROM jsonb_each_text(CAST(:delta AS jsonb))
    ) AS parts GROUP BY key
  ) AS sums
)"""

_FINISH = text(f"""
UPDATE hc_check_batches SET state = 'done', finished_at = clock_timestamp(),
  counts = {_MERGED_COUNTS}
WHERE run_id = :run_id AND seq = :seq
""")  # noqa: S608 - a constant fragment, no input

_RELEASE = text(f"""
UPDATE hc_check_batches SET state = 'pending', claimed_by = NULL,
  cursor = coalesce(CAST(:cursor AS uuid), cursor), counts = {_MERGED_COUNTS}
WHERE run_id = :run_id AND seq = :seq
""")  # noqa: S608 - a constant fragment, no input

_CLAIM = text("""
UPDATE hc_check_batches AS b SET state = 'working', claimed_by = :owner,
  claimed_at = clock_timestamp()
FROM (
  SELECT run_id, seq FROM hc_check_batches
  WHERE run_id = :run_id AND platform = :platform AND state <> 'done'
  ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED
) AS next
WHERE b.run_id = next.run_id AND b.seq = next.seq
RETURNING b.*
""")

_COMPLETE = text("""
UPDATE hc_check_runs SET status = 'completed', finished_at = clock_timestamp()
WHERE id = :run_id AND status = 'running'
  AND NOT EXISTS (SELECT 1 FROM hc_check_batches WHERE run_id = :run_id AND state <> 'done')
RETURNING id
""")

_TODAY = "CAST(timezone('UTC', clock_timestamp()) AS date)"


def _db_now() -> Any:
    return func.clock_timestamp(type_=DateTime(timezone=True))


def _run(row: Row[Any]) -> CheckRun:
    return CheckRun(
        id=row.id,
        status=RunStatus(row.status),
        started_at=row.started_at,
        window_ends_at=row.window_ends_at,
        ticks=row.ticks,
        finished_at=row.finished_at,
    )


def _batch(row: Row[Any]) -> Batch:
    return Batch(
        run_id=row.run_id,
        seq=row.seq,
        platform=row.platform,
        after_id=row.after_id,
        last_id=row.last_id,
        planned=row.planned,
        cursor=row.cursor,
    )


class CheckRepository(AbstractCheckRepository):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def now(self) -> datetime:
        now: datetime = (await self.session.execute(select(_db_now()))).scalar_one()
        return now

    async def open_run(self) -> CheckRun | None:
        row = (
            await self.session.execute(
                select(hc_check_runs).where(_R.status == RunStatus.RUNNING.value)
            )
        ).first()
        return _run(row) if row is not None else None

    async def start_or_resume(
        self, *, window_s: float, batch_size: int, statuses: Collection[AccountStatus]
    ) -> tuple[CheckRun, bool]:
        window_end = _db_now() + timedelta(seconds=window_s)
        existing = (
            await self.session.execute(
                select(_R.id).where(_R.status == RunStatus.RUNNING.value).with_for_update()
            )
        ).first()
        if existing is not None:
            row = (
                await self.session.execute(
                    hc_check_runs.update()
                    .where(_R.id == existing.id)
                    .values(window_ends_at=window_end, ticks=_R.ticks + 1)
                    .returning(hc_check_runs)
                )
            ).one()
            return _run(row), False
        run_id = uuid.uuid4()
        row = (
            await self.session.execute(
                insert(hc_check_runs)
                .values(
                    id=run_id,
                    status=RunStatus.RUNNING.value,
                    started_at=_db_now(),
                    window_ends_at=window_end,
                )
                .returning(hc_check_runs)
            )
        ).one()
        await self.session.execute(
            _PLAN, {"run_id": run_id, "size": batch_size, "statuses": list(statuses)}
        )
        return _run(row), True

    async def get_run(self, run_id: uuid.UUID) -> CheckRun | None:
        row = (await self.session.execute(select(hc_check_runs).where(_R.id == run_id))).first()
        return _run(row) if row is not None else None

    async def latest_run(self) -> CheckRun | None:
        row = (
            await self.session.execute(
                select(hc_check_runs).order_by(_R.started_at.desc()).limit(1)
            )
        ).first()
        return _run(row) if row is not None else None

    async def summary(self, run: CheckRun) -> RunSummary:
        summary = RunSummary(run=run)
        states = await self.session.execute(
            select(_B.platform, _B.state, func.count(), func.sum(_B.planned))
            .where(_B.run_id == run.id)
            .group_by(_B.platform, _B.state)
        )
        for platform, state, batches, planned in states:
            summary.batches[state] += batches
            summary.planned += int(planned or 0)
            summary.per_platform.setdefault(platform, Counter())
        counts = await self.session.execute(
            text(
                "SELECT platform, key, sum(CAST(value AS integer)) FROM hc_check_batches, "
                "jsonb_each_text(counts) WHERE run_id = :run_id GROUP BY platform, key"
            ),
            {"run_id": run.id},
        )
        for platform, key, total in counts:
            summary.counts[key] += int(total)
            summary.per_platform.setdefault(platform, Counter())[key] += int(total)
        return summary

    async def open_platforms(self, run_id: uuid.UUID) -> list[str]:
        rows = await self.session.execute(
            select(_B.platform)
            .where(_B.run_id == run_id, _B.state != BatchState.DONE.value)
            .distinct()
        )
        return sorted(rows.scalars())

    async def claim_batch(self, run_id: uuid.UUID, platform: str, owner: str) -> Batch | None:
        row = (
            await self.session.execute(
                _CLAIM, {"run_id": run_id, "platform": platform, "owner": owner}
            )
        ).first()
        return _batch(row) if row is not None else None

    async def batch_accounts(
        self, batch: Batch, statuses: Collection[AccountStatus]
    ) -> list[uuid.UUID]:
        query = select(accounts.c.id).where(
            accounts.c.platform == batch.platform, accounts.c.status.in_(list(statuses))
        )
        if batch.resume_after is not None:
            query = query.where(accounts.c.id > batch.resume_after)
        if batch.last_id is not None:
            query = query.where(accounts.c.id <= batch.last_id)
        return list((await self.session.execute(query.order_by(accounts.c.id))).scalars())

    async def finish_batch(self, batch: Batch, counts: Mapping[str, int]) -> None:
        await self.session.execute(
            _FINISH, {"run_id": batch.run_id, "seq": batch.seq, "delta": json.dumps(counts)}
        )

    async def release_batch(
        self, batch: Batch, cursor: uuid.UUID | None, counts: Mapping[str, int]
    ) -> None:
        await self.session.execute(
            _RELEASE,
            {
                "run_id": batch.run_id,
                "seq": batch.seq,
                "cursor": cursor,
                "delta": json.dumps(counts),
            },
        )

    async def complete_run(self, run_id: uuid.UUID) -> bool:
        if (await self.session.execute(_COMPLETE, {"run_id": run_id})).first() is not None:
            return True
        run = await self.get_run(run_id)
        return run is not None and run.status is RunStatus.COMPLETED

    async def spend_quota(self, platform: str, calls: int) -> None:
        if calls <= 0:
            return
        stmt = insert(hc_quota_usage).values(platform=platform, day=text(_TODAY), calls=calls)
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[hc_quota_usage.c.platform, hc_quota_usage.c.day],
                set_={"calls": hc_quota_usage.c.calls + stmt.excluded.calls},
            )
        )

    async def quota_spent(self, platforms: Collection[str]) -> dict[str, int]:
        rows = await self.session.execute(
            select(hc_quota_usage.c.platform, hc_quota_usage.c.calls).where(
                hc_quota_usage.c.platform.in_(list(platforms)),
                hc_quota_usage.c.day == text(_TODAY),
            )
        )
        return dict(rows.tuples().all())
