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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mooring.logs import redact
from mooring.messaging.outbox import OUTBOX_CHANNEL
from mooring.service.tracing import publishing_context

__all__ = ["OutboxRelay", "create_idempotent_producer"]

logger = logging.getLogger(__name__)

_RELAY_LOCK = 0x72656C79  # "rely"
# Chunked deletes (each its own short transaction), repeated until a chunk comes back short:
# one bounded chunk per minute fell behind a pipeline writing more than that.
_PRUNE = text(
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < "
    "now() - make_interval(secs => :retention) LIMIT :chunk)"
)
_PRUNE_INBOX = text(
    "DELETE FROM inbox WHERE ctid IN (SELECT ctid FROM inbox WHERE processed_at < "
    "now() - make_interval(secs => :retention) LIMIT :chunk)"
)
_PRUNE_CHUNK = 10_000
# Unpublished rows in id order, minus those behind an earlier row of the same (topic, key) that
# is waiting out a back-off: per-key order holds until that row goes out or is parked.
_CLAIM = text(
    "SELECT o.id, o.topic, o.key, o.headers, o.payload, o.next_attempt_at IS NOT NULL AS retried "
    "FROM outbox o WHERE o.published_at IS NULL AND o.parked_at IS NULL "
    "AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now()) "
    "AND NOT EXISTS (SELECT 1 FROM outbox h WHERE h.topic = o.topic AND h.key = o.key "
    "AND h.id < o.id AND h.published_at IS NULL AND h.parked_at IS NULL "
    "AND h.next_attempt_at IS NOT NULL AND h.next_attempt_at > now()) "
    "ORDER BY o.id LIMIT :limit FOR UPDATE OF o SKIP LOCKED"
)
_STEP_ASIDE = (
    "UPDATE outbox SET attempts = attempts + 1, last_error = :error, "
    "parked_at = CASE WHEN attempts + 1 >= :max_attempts THEN now() END, "
    # Step aside (1 s, 2 s, 4 s ... at most 5 min) so the rows behind keep flowing.
    "next_attempt_at = now() + make_interval(secs => least(power(2, attempts), 300)) "
)
_RECORD_FAILURES = text(
    _STEP_ASIDE + "WHERE id = ANY(:ids) RETURNING CASE WHEN parked_at IS NOT NULL THEN id END"
)
# The rest of a missing topic's due rows step aside with the claimed ones: with more of them
# than one batch, the lowest ids would otherwise fill every batch, round after round, and starve
# every other topic's rows behind them (24,000 rows of a deleted benchmark topic held back a
# development stack's events for hours).
_MISSING_TOPIC_ASIDE = text(
    _STEP_ASIDE + "WHERE topic = :topic AND published_at IS NULL AND parked_at IS NULL "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= now()) AND NOT (id = ANY(:claimed)) "
    "RETURNING CASE WHEN parked_at IS NOT NULL THEN id END"
)
# One array parameter instead of an IN list: the statement stays the same for every batch size.
_MARK_PUBLISHED = text("UPDATE outbox SET published_at = now() WHERE id = ANY(:ids)")


def create_idempotent_producer(
    bootstrap_servers: str, *, client_id: str, options: Mapping[str, Any] | None = None
) -> AIOKafkaProducer:
    """`options`: the connection's security (`KafkaSettings.client_options`)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,  # implies acks=all; retries cannot duplicate or reorder
        linger_ms=2,
        # Bounds the wait for a topic's metadata too, so one bad row cannot stall a batch long.
        request_timeout_ms=10_000,
        **dict(options or {}),
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
        metadata_timeout_s: float = 2.0,
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
        self._metadata_timeout_s = metadata_timeout_s
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
            rows = (await conn.execute(_CLAIM, {"limit": self._batch_size})).all()
            if not rows:
                return 0
            failures, held, missing = await self._publish(rows)
            published = [r.id for r in rows if r.id not in failures and r.id not in held]
            await conn.execute(_MARK_PUBLISHED, {"ids": published})
            if (failures or missing) and not await self._broker_reachable():
                # Nothing refused these rows: no broker answers (stopped, restarting, cut off).
                # Counting that against them would park every row after a long enough outage;
                # they wait as they are and go with the first round after it.
                logger.warning(
                    "outbox relay: Kafka unreachable; unpublished rows wait",
                    extra={"rows": len(rows) - len(published)},
                )
                failures, missing = {}, {}
            if failures:
                await self._record_failures(conn, rows, failures)
            for topic, error in missing.items():
                await self._missing_topic_aside(conn, topic, error, [r.id for r in rows])
        self.published += len(published)
        self._on_published(len(published))
        return len(published)

    async def _record_failures(
        self, conn: AsyncConnection, rows: Sequence[Any], failures: dict[int, BaseException]
    ) -> None:
        """One statement per distinct error; rows past their attempts are parked."""
        by_error: dict[str, list[int]] = {}
        for row in rows:
            if row.id in failures:
                error = failures[row.id]
                text_ = redact(f"{type(error).__name__}: {error}")[:1000]
                by_error.setdefault(text_, []).append(row.id)
        for error_text, ids in by_error.items():
            result = await conn.execute(
                _RECORD_FAILURES,
                {"ids": ids, "error": error_text, "max_attempts": self._max_attempts},
            )
            parked = [i for i in result.scalars() if i is not None]
            failed = set(ids)
            topics = sorted({r.topic for r in rows if r.id in failed})
            logger.warning(
                "outbox publish failed",
                extra={"rows": len(ids), "topics": topics, "error": error_text},
            )
            if parked:
                logger.error(
                    "outbox rows parked after repeated publish failures",
                    extra={"rows": len(parked), "topics": topics, "outbox_ids": parked[:20]},
                )

    async def _missing_topic_aside(
        self, conn: AsyncConnection, topic: str, error: BaseException, claimed: list[int]
    ) -> None:
        error_text = redact(f"{type(error).__name__}: {error}")[:1000]
        params = {"topic": topic, "claimed": claimed, "error": error_text}
        result = await conn.execute(
            _MISSING_TOPIC_ASIDE, params | {"max_attempts": self._max_attempts}
        )
        ids = list(result.scalars())
        if ids:
            logger.warning(
                "outbox rows of a missing topic stepped aside",
                extra={"rows": len(ids), "topics": [topic], "error": error_text},
            )
        parked = [i for i in ids if i is not None]
        if parked:
            logger.error(
                "outbox rows parked after repeated publish failures",
                extra={"rows": len(parked), "topics": [topic], "outbox_ids": parked[:20]},
            )

    async def prune(self) -> tuple[int, int]:
        """Delete published outbox rows and inbox entries past their retention, chunk after
        chunk until none is left; (outbox rows, inbox rows) deleted."""
        return (
            await self._prune(_PRUNE, self._retention_s),
            await self._prune(_PRUNE_INBOX, self._inbox_retention_s),
        )

    async def _prune(self, statement: Any, retention_s: float) -> int:
        total = 0
        while not self._stopping.is_set():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    statement, {"retention": retention_s, "chunk": _PRUNE_CHUNK}
                )
            total += result.rowcount
            if result.rowcount < _PRUNE_CHUNK:
                break
        return total

    async def _publish(
        self, rows: Sequence[Any]
    ) -> tuple[dict[int, BaseException], set[int], dict[str, BaseException]]:
        """Send the rows in order, wait for every ack; the rows Kafka refused (with why), the
        rows held back because an earlier row of their key failed, and the missing topics."""
        missing = await self._missing_topics({row.topic for row in rows})
        failures: dict[int, BaseException] = {}
        held: set[int] = set()
        blocked: set[tuple[str, str]] = set()
        pending: list[tuple[int, asyncio.Future[Any]]] = []
        for row in rows:
            key = (row.topic, row.key)
            if key in blocked:
                held.add(row.id)
                continue
            if row.topic in missing:
                failures[row.id] = missing[row.topic]
                blocked.add(key)
                continue
            headers = {k: str(v) for k, v in row.headers.items()}
            try:
                with publishing_context(headers):
                    future = await self._producer.send(
                        row.topic,
                        value=row.payload,
                        key=row.key.encode(),
                        headers=[(k, v.encode()) for k, v in headers.items()],
                    )
                if row.retried:
                    # A row that failed before goes out alone first: if it fails again, the
                    # rows of its key behind it must not have been sent already.
                    await future
            except KafkaError as exc:
                failures[row.id] = exc
                blocked.add(key)
            else:
                pending.append((row.id, future))
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        for (row_id, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                failures[row_id] = result
        return failures, held, missing

    async def _missing_topics(self, topics: set[str]) -> dict[str, BaseException]:
        """Topics Kafka does not know, checked once per batch rather than waited on per row."""
        missing: dict[str, BaseException] = {}
        for topic in topics:
            try:
                async with asyncio.timeout(self._metadata_timeout_s):
                    await self._producer.partitions_for(topic)
            except (KafkaError, TimeoutError) as exc:
                missing[topic] = exc if str(exc) else UnknownTopicOrPartitionError(topic)
        return missing

    async def _broker_reachable(self) -> bool:
        """Whether any broker answers a metadata request: only one that answers refuses a row."""
        try:
            async with asyncio.timeout(self._metadata_timeout_s):
                await self._producer.client.fetch_all_metadata()
        except (KafkaError, TimeoutError, OSError):
            return False
        return True

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
