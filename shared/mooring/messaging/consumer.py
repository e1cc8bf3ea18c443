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
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from mooring.events import dlq_topic
from mooring.events.base import Envelope, Event
from mooring.messaging.cloudevents import MalformedEventError, decode
from mooring.settings import ConsumerSettings

__all__ = [
    "DLQ_HEADERS",
    "EventConsumer",
    "Producer",
    "Record",
]

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

DLQ_HEADERS = (
    "dlq-error",
    "dlq-error-type",
    "dlq-attempts",
    "dlq-original-topic",
    "dlq-original-partition",
    "dlq-original-offset",
    "dlq-consumer-group",
    "dlq-failed-at",
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
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


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
class EventConsumer(Generic[E]):
    """Decode, handle with bounded retries, dead-letter; one per (consumer group, event type)."""

    model: type[E]
    handler: Callable[[Envelope[E]], Awaitable[None]]
    group: str
    producer: Producer
    settings: ConsumerSettings = field(default_factory=ConsumerSettings)
    on_outcome: Outcome = _ignore

    async def process(self, record: Record) -> None:
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        try:
            envelope = decode(self.model, headers, record.value or b"")
        except MalformedEventError as exc:
            logger.warning(
                "malformed event dead-lettered",
                extra={"topic": record.topic, "offset": record.offset, "error": str(exc)},
            )
            await self._dead_letter(record, exc, attempts=0)
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.handler(envelope)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt >= self.settings.max_attempts:
                    logger.exception(
                        "handler failed; dead-lettering",
                        extra={"topic": record.topic, "event_id": str(envelope.id),
                               "attempts": attempt},
                    )  # fmt: skip
                    await self._dead_letter(record, exc, attempts=attempt)
                    return
                await asyncio.sleep(self.settings.backoff_ms / 1000 * 2 ** (attempt - 1))
            else:
                self.on_outcome(record.topic, "processed")
                return

    async def _dead_letter(self, record: Record, error: BaseException, *, attempts: int) -> None:
        extra = {
            "dlq-error": str(error)[:_MAX_ERROR_CHARS] or type(error).__name__,
            "dlq-error-type": type(error).__name__,
            "dlq-attempts": str(attempts),
            "dlq-original-topic": record.topic,
            "dlq-original-partition": str(record.partition),
            "dlq-original-offset": str(record.offset),
            "dlq-consumer-group": self.group,
            "dlq-failed-at": datetime.now(UTC).isoformat(),
        }
        kept = [(k, v) for k, v in record.headers if k not in extra]
        await self.producer.send_and_wait(
            dlq_topic(record.topic),
            value=record.value,
            key=record.key,
            headers=kept + [(k, v.encode()) for k, v in extra.items()],
        )
        self.on_outcome(record.topic, "dead_lettered")
