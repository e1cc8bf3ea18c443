"""Subscribing with bounded retries and a dead-letter topic.

A subscriber here is thin: it hands the raw record to `EventConsumer.process`, which decodes the
CloudEvent, calls the handler (that commits its own effect, inbox row included), retries a failing
handler a bounded number of times, and then publishes the record to `<topic>.dlq` with what went
wrong in headers. Only after the effect is committed or the record is safely dead-lettered does
`process` return, so the subscriber's ack (commit of the offset) never runs ahead of the effect.
A malformed record is dead-lettered at once: retrying cannot fix it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from aiokafka.errors import KafkaError
from sqlalchemy.exc import InterfaceError, OperationalError

from mooring.events import dlq_topic
from mooring.events.base import Envelope, Event
from mooring.logs import redact
from mooring.messaging.cloudevents import MalformedEventError, decode
from mooring.messaging.errors import RejectEvent, RetryLater
from mooring.settings import ConsumerSettings

__all__ = [
    "DLQ_HEADER_PREFIX",
    "INFRASTRUCTURE_ERRORS",
    "BatchEventConsumer",
    "EventConsumer",
    "Producer",
    "Record",
]

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

DLQ_HEADER_PREFIX = "dlq-"
# Errors that say the infrastructure is down, not that the message is bad.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    TimeoutError,
    ConnectionError,
    KafkaError,
)
_MAX_ERROR_CHARS = 1000


class Record(Protocol):
    """What we need of a consumed Kafka record (aiokafka's ConsumerRecord has it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...


class Producer(Protocol):
    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> object: ...


class Outcome(Protocol):
    def __call__(self, topic: str, outcome: str) -> None: ...


def _ignore(topic: str, outcome: str) -> None:
    del topic, outcome


@dataclass(frozen=True)
class _Consumer(Generic[E]):
    model: type[E]
    group: str
    producer: Producer
    settings: ConsumerSettings = field(default_factory=ConsumerSettings)
    on_outcome: Outcome = _ignore

    def _decode(self, record: Record) -> Envelope[E]:
        headers = {k: (v or b"").decode(errors="replace") for k, v in record.headers}
        envelope = decode(self.model, headers, record.value or b"")
        allowed = self.settings.allowed_sources.get(self.model.event_type)
        if allowed is not None and envelope.source not in allowed:
            # Any client that may write the topic could claim any source; with topic ACLs this
            # is the second fence: an event from a producer the contract does not name.
            raise MalformedEventError(
                f"ce_source {envelope.source[:100]!r} may not publish {self.model.event_type} "
                f"(allowed: {', '.join(allowed) or 'none'})"
            )
        return envelope

    async def _decode_or_dead_letter(self, record: Record) -> Envelope[E] | None:
        try:
            return self._decode(record)
        except MalformedEventError as exc:
            logger.warning(
                "malformed event dead-lettered",
                extra={"topic": record.topic, "offset": record.offset, "error": str(exc)},
            )
            await self._dead_letter(record, exc, attempts=0)
            return None

    async def _with_retries(
        self, call: Callable[[], Awaitable[None]], *, topic: str, count: int
    ) -> BaseException | None:
        """Run `call` with bounded retries; the last error if it never succeeded, else None."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await call()
            except (asyncio.CancelledError, RetryLater):
                raise  # the entry delays the record; not the message's fault, not an attempt
            except RejectEvent as exc:
                logger.warning("event rejected", extra={"topic": topic, "error": redact(str(exc))})
                return exc
            except INFRASTRUCTURE_ERRORS as exc:
                # Not the message's fault: dead-lettering it would drop a good effect during a
                # database restart. Back off, then raise so the record is nacked and redelivered.
                logger.warning(
                    "infrastructure unavailable; redelivering",
                    extra={"topic": topic, "error_type": type(exc).__name__},
                )
                await asyncio.sleep(self.settings.infrastructure_backoff_ms / 1000)
                raise
            except Exception as exc:
                if attempt >= self.settings.max_attempts:
                    logger.exception("handler failed", extra={"topic": topic, "attempts": attempt})
                    return exc
                await asyncio.sleep(self.settings.backoff_ms / 1000 * 2 ** (attempt - 1))
            else:
                for _ in range(count):
                    self.on_outcome(topic, "processed")
                return None

    async def _dead_letter(self, record: Record, error: BaseException, *, attempts: int) -> None:
        extra = {
            f"{DLQ_HEADER_PREFIX}error": redact(str(error))[:_MAX_ERROR_CHARS]
            or type(error).__name__,
            f"{DLQ_HEADER_PREFIX}error-type": type(error).__name__,
            f"{DLQ_HEADER_PREFIX}attempts": str(attempts),
            f"{DLQ_HEADER_PREFIX}original-topic": record.topic,
            f"{DLQ_HEADER_PREFIX}original-partition": str(record.partition),
            f"{DLQ_HEADER_PREFIX}original-offset": str(record.offset),
            f"{DLQ_HEADER_PREFIX}consumer-group": self.group,
            f"{DLQ_HEADER_PREFIX}failed-at": datetime.now(UTC).isoformat(),
        }
        kept = [(k, v or b"") for k, v in record.headers if not k.startswith(DLQ_HEADER_PREFIX)]
        await self.producer.send_and_wait(
            dlq_topic(record.topic),
            value=record.value,
            key=record.key,
            headers=kept + [(k, v.encode()) for k, v in extra.items()],
        )
        self.on_outcome(record.topic, "dead_lettered")


@dataclass(frozen=True)
class EventConsumer(_Consumer[E]):
    """One record at a time: decode, handle with bounded retries, dead-letter."""

    handler: Callable[[Envelope[E]], Awaitable[None]] = field(kw_only=True)

    async def process(self, record: Record) -> None:
        envelope = await self._decode_or_dead_letter(record)
        if envelope is None:
            return
        error = await self._with_retries(
            lambda: self.handler(envelope), topic=record.topic, count=1
        )
        if error is not None:
            await self._dead_letter(record, error, attempts=_attempts(error, self.settings))


def _attempts(error: BaseException, settings: ConsumerSettings) -> int:
    return 1 if isinstance(error, RejectEvent) else settings.max_attempts


@dataclass(frozen=True)
class BatchEventConsumer(_Consumer[E]):
    """A fetched batch at a time: one handler call (one transaction) for all good records.

    When the batch keeps failing it is split into single records, so only the ones that fail on
    their own are dead-lettered and the rest still take effect.
    """

    handler: Callable[[Sequence[Envelope[E]]], Awaitable[None]] = field(kw_only=True)

    async def _one(self, envelope: Envelope[E]) -> None:
        await self.handler([envelope])

    async def process_batch(self, records: Sequence[Record]) -> None:
        decoded = [(r, await self._decode_or_dead_letter(r)) for r in records]
        good = [(r, e) for r, e in decoded if e is not None]
        if not good:
            return
        topic = good[0][0].topic
        envelopes = [e for _, e in good]
        if await self._with_retries(lambda: self.handler(envelopes), topic=topic, count=len(good)):
            for record, envelope in good:
                error = await self._with_retries(
                    functools.partial(self._one, envelope), topic=topic, count=1
                )
                if error is not None:
                    await self._dead_letter(record, error, attempts=_attempts(error, self.settings))
