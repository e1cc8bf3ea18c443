"""Gauges read on a timer: consumer lag, dead letters waiting, outbox backlog, accounts.

Counters tell what happened; these tell where things stand, for dashboards and alerts: a lag
that grows means consumers fall behind, dead letters that stay mean nobody has replayed (or
dismissed) them yet, a backlog that grows means the relay cannot publish (Kafka away, or a row
parked), a jump in `token_expired` accounts means a platform revoked many tokens. Each is read
every `interval_s` in the background; a failed read is logged and retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.events import dlq_topic
from mooring.messaging.dlq_replay import REPLAY_GROUP
from mooring.service.metrics import Metrics
from mooring.settings import KafkaSettings

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
        kafka: KafkaSettings | None = None,
        replay_group: str = REPLAY_GROUP,
        interval_s: float = 15.0,
    ) -> None:
        self._service = service
        self._engine = engine
        self._metrics = metrics
        self._consumers = consumers
        self._outbox = outbox
        self._accounts = accounts
        self._kafka = kafka
        self._replay_group = replay_group
        self._replay_progress_known = True
        self._interval_s = interval_s

    async def run(self) -> None:
        while True:
            for read in (self._lag, self._dead_letters, self._backlog, self._account_counts):
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

    async def _dead_letters(self) -> None:
        """Records of each dead-letter topic this service writes that no replay has passed.

        The replay commits its position under `replay_group`; from there to the end offset is
        what still waits for an operator (from the log start where the replay has not been, or
        where retention dropped records before it got there). A topic is append-only, so the
        retained count alone would stay up for the DLQ's retention after everything was replayed.
        """
        if self._kafka is None:
            return
        dlqs = sorted({dlq_topic(topic) for topic, _ in self._consumers()})
        if not dlqs:
            return
        # Bounded, so a broker that does not answer holds back only this gauge, not the next.
        async with asyncio.timeout(self._kafka.request_timeout_ms / 1000):
            waiting = await self._unreplayed(self._kafka, dlqs)
        for topic in dlqs:
            self._metrics.dlq_records.labels(self._service, topic).set(waiting.get(topic, 0))

    async def _unreplayed(self, kafka: KafkaSettings, dlqs: Collection[str]) -> dict[str, int]:
        # Clients of its own, closed after each read: a client that once asked for a topic keeps
        # refreshing its metadata by name, which lets a broker with auto.create.topics.enable
        # create a dead-letter topic an administrator deleted. The consumers' clients are not
        # borrowed for the same reason.
        admin = AIOKafkaAdminClient(
            bootstrap_servers=kafka.bootstrap_servers,
            request_timeout_ms=kafka.request_timeout_ms,
            **kafka.client_options(),
        )
        wanted = set(dlqs)
        try:
            await admin.start()
            # Every topic's metadata rather than the DLQs' by name, for the same reason: asking
            # by name may create one, and a dead-letter topic nobody wrote yet must read 0.
            partitions = [
                TopicPartition(t["topic"], p["partition"])
                for t in await admin.describe_topics()
                if t["topic"] in wanted and not t["error_code"]
                for p in t["partitions"]
            ]
            if not partitions:
                return {}
            replayed = await self._replayed(admin, partitions)
        finally:
            await admin.close()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=kafka.request_timeout_ms,
            **kafka.client_options(),
        )
        try:
            await consumer.start()
            starts = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        waiting = dict.fromkeys(dlqs, 0)
        for tp in partitions:
            waiting[tp.topic] += max(ends[tp] - max(starts[tp], replayed.get(tp, -1)), 0)
        return waiting

    async def _replayed(
        self, admin: AIOKafkaAdminClient, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        try:
            offsets = await admin.list_consumer_group_offsets(
                self._replay_group, partitions=partitions
            )
        except KafkaError as exc:
            # A principal that may not describe the replay group (ACLs) still sees its own dead
            # letters: counted from the log start, too many rather than none. Said once, not
            # every interval.
            if self._replay_progress_known:
                logger.warning(
                    "cannot read the DLQ replay's progress; counting retained dead letters",
                    extra={"group": self._replay_group, "error": repr(exc)},
                )
            self._replay_progress_known = False
            return {}
        self._replay_progress_known = True
        return {tp: meta.offset for tp, meta in offsets.items()}

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
