"""The outbox relay: claim committed rows, publish them idempotently, mark them published.

One relay is active at a time (a transaction-scoped advisory lock), so events keep their commit
order per key even with a relay in every replica; the others stand by and take over at once. A
relay that dies between publishing and marking republishes the batch: delivery is at-least-once,
and consumers deduplicate by `ce_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mooring.db.tables import outbox
from mooring.logs import redact
from mooring.messaging.outbox import OUTBOX_CHANNEL

__all__ = ["OutboxRelay", "create_idempotent_producer"]

logger = logging.getLogger(__name__)

_RELAY_LOCK = 0x72656C79  # "rely"
# One array parameter instead of an IN list: the statement stays the same for every batch size.
_PRUNE = text(
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < "
    "now() - make_interval(secs => :retention) ORDER BY id LIMIT 10000) RETURNING id"
)
_PRUNE_INBOX = text(
    "DELETE FROM inbox WHERE ctid IN (SELECT ctid FROM inbox WHERE processed_at < "
    "now() - make_interval(secs => :retention) LIMIT 10000)"
)
_RECORD_FAILURE = text(
    "UPDATE outbox SET attempts = attempts + 1, last_error = :error, "
    "parked_at = CASE WHEN :park THEN now() END WHERE id = :id"
)
_MARK_PUBLISHED = text("UPDATE outbox SET published_at = now() WHERE id = ANY(:ids)")


def create_idempotent_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,  # implies acks=all; retries cannot duplicate or reorder
        linger_ms=2,
        # Bounds the wait for a topic's metadata too, so one bad row cannot stall a batch long.
        request_timeout_ms=10_000,
    )


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        *,
        listen_url: str,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        retention_s: float = 24 * 3600,
        prune_every_s: float = 60.0,
        on_published: Callable[[int], None] = lambda _: None,
        max_attempts: int = 10,
        inbox_retention_s: float = 7 * 24 * 3600,
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._listen_url = listen_url
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._retention_s = retention_s
        self._prune_every_s = prune_every_s
        self._last_prune = 0.0
        self._on_published = on_published
        self._max_attempts = max_attempts
        self._inbox_retention_s = inbox_retention_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.published = 0

    async def run(self) -> None:
        """Relay until `stop()`; survives database and broker hiccups with a short back-off."""
        listener = asyncio.create_task(self._listen(), name="outbox-listen")
        try:
            while not self._stopping.is_set():
                try:
                    sent = await self.relay_once()
                    if time.monotonic() - self._last_prune > self._prune_every_s:
                        self._last_prune = time.monotonic()
                        await self.prune()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("outbox relay round failed; retrying")
                    await self._sleep(self._poll_interval_s)
                    continue
                if not sent or sent < self._batch_size:
                    await self._sleep(self._poll_interval_s)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def relay_once(self) -> int | None:
        """Publish one batch; how many rows were published, or None if another relay leads."""
        async with self._engine.begin() as conn:
            lock = text("SELECT pg_try_advisory_xact_lock(:k)")
            if not (await conn.execute(lock, {"k": _RELAY_LOCK})).scalar_one():
                return None
            rows = (
                await conn.execute(
                    select(
                        outbox.c.id,
                        outbox.c.topic,
                        outbox.c.key,
                        outbox.c.headers,
                        outbox.c.payload,
                        outbox.c.attempts,
                    )
                    .where(outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            failures = await self._publish(rows)
            published = [r.id for r in rows if r.id not in failures]
            await conn.execute(_MARK_PUBLISHED, {"ids": published})
            for row in rows:
                if row.id in failures:
                    await self._record_failure(conn, row, failures[row.id])
        self.published += len(published)
        self._on_published(len(published))
        return len(published)

    async def _record_failure(self, conn: AsyncConnection, row: Any, error: BaseException) -> None:
        park = row.attempts + 1 >= self._max_attempts
        log = logger.error if park else logger.warning
        log(
            "outbox row parked after repeated publish failures" if park else "outbox publish failed",
            extra={"outbox_id": row.id, "topic": row.topic, "attempts": row.attempts + 1,
                   "error_type": type(error).__name__},
        )  # fmt: skip
        await conn.execute(
            _RECORD_FAILURE,
            {
                "id": row.id,
                "error": redact(f"{type(error).__name__}: {error}")[:1000],
                "park": park,
            },
        )

    async def prune(self) -> int:
        """Delete published outbox rows and old inbox entries past their retention, in chunks."""
        async with self._engine.begin() as conn:
            deleted = len((await conn.execute(_PRUNE, {"retention": self._retention_s})).all())
            await conn.execute(_PRUNE_INBOX, {"retention": self._inbox_retention_s})
        return deleted

    async def _publish(self, rows: Sequence[Any]) -> dict[int, BaseException]:
        """Send every row, wait for every ack; the rows Kafka refused, with why."""
        failures: dict[int, BaseException] = {}
        pending: list[tuple[int, asyncio.Future[Any]]] = []
        for row in rows:
            try:
                future = await self._producer.send(
                    row.topic,
                    value=row.payload,
                    key=row.key.encode(),
                    headers=[(k, str(v).encode()) for k, v in row.headers.items()],
                )
            except KafkaError as exc:
                failures[row.id] = exc
            else:
                pending.append((row.id, future))
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        for (row_id, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                failures[row_id] = result
        return failures

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def _listen(self) -> None:
        """LISTEN on its own connection: a NOTIFY wakes the relay well under the poll interval."""
        while not self._stopping.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._listen_url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    self._wake.set()  # catch up on anything committed before we listened
                    async for _ in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # the poll interval covers us while reconnecting
                logger.warning("outbox LISTEN connection lost; reconnecting", exc_info=True)
                await asyncio.sleep(1.0)
