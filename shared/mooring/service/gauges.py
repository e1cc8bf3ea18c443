"""Gauges read on a timer: consumer lag, outbox backlog, accounts by platform and status.

Counters tell what happened; these tell where things stand, for dashboards and alerts: a lag
that grows means consumers fall behind, a backlog that grows means the relay cannot publish
(Kafka away, or a row parked), a jump in `token_expired` accounts means a platform revoked many
tokens. Each is read every `interval_s` in the background; a failed read is logged and retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.service.metrics import Metrics

__all__ = ["GaugeReader"]

logger = logging.getLogger(__name__)

_BACKLOG = text(
    "SELECT count(*) FILTER (WHERE parked_at IS NULL) AS waiting, "
    "count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked, "
    "coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL)), 0) "
    "AS oldest_s FROM outbox WHERE published_at IS NULL"
)
_ACCOUNTS = text("SELECT platform, status, count(*) AS n FROM accounts GROUP BY platform, status")


class GaugeReader:
    def __init__(
        self,
        *,
        service: str,
        engine: AsyncEngine,
        metrics: Metrics,
        consumers: Callable[[], Iterable[tuple[str, Any]]],
        outbox: bool,
        accounts: bool,
        interval_s: float = 15.0,
    ) -> None:
        self._service = service
        self._engine = engine
        self._metrics = metrics
        self._consumers = consumers
        self._outbox = outbox
        self._accounts = accounts
        self._interval_s = interval_s

    async def run(self) -> None:
        while True:
            for read in (self._lag, self._backlog, self._account_counts):
                try:
                    await read()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a gauge must not take the service down
                    logger.warning(
                        "could not read a gauge", extra={"gauge": read.__name__, "error": repr(exc)}
                    )
            await asyncio.sleep(self._interval_s)

    async def _lag(self) -> None:
        for topic, subscriber in self._consumers():
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None:
                continue
            assigned = list(consumer.assignment())
            if not assigned:
                continue
            # Ask the broker for the log ends: the highwater of the last fetch stops moving while a
            # handler is stuck (nothing more is fetched), so it hid exactly the lag worth seeing.
            ends = await consumer.end_offsets(assigned)
            for tp in assigned:
                committed = await consumer.committed(tp) or 0
                self._metrics.consumer_lag.labels(self._service, topic, str(tp.partition)).set(
                    max(ends[tp] - committed, 0)
                )

    async def _backlog(self) -> None:
        if not self._outbox:
            return
        async with self._engine.connect() as conn:
            row = (await conn.execute(_BACKLOG)).one()
        self._metrics.outbox_backlog.labels(self._service, "waiting").set(row.waiting)
        self._metrics.outbox_backlog.labels(self._service, "parked").set(row.parked)
        self._metrics.outbox_oldest.labels(self._service).set(float(row.oldest_s))

    async def _account_counts(self) -> None:
        if not self._accounts:
            return
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_ACCOUNTS)).all()
        self._metrics.accounts.clear()  # a platform whose last account went away reads 0
        for row in rows:
            self._metrics.accounts.labels(self._service, row.platform, row.status).set(row.n)
