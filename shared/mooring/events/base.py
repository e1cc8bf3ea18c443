"""The event base: a frozen, versioned pydantic payload plus its envelope.

The payload is the public contract (JSON body on Kafka). The envelope holds the CloudEvents
attributes, which travel in Kafka headers (binary content mode), and the partition key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = ["Envelope", "Event", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """A payload. Subclasses set `event_type` (also the topic) and `key_field` (the partition key).

    Consumers ignore unknown fields, so adding an optional field keeps `schema_version`; removing or
    retyping one is a new version (and the committed JSON Schema test fails until it is decided).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    key_field: ClassVar[str]

    @property
    def key(self) -> str:
        return str(getattr(self, self.key_field))


E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Envelope(Generic[E]):
    """One event as it travels: the payload and its CloudEvents attributes."""

    payload: E
    source: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime = field(default_factory=utcnow)

    @property
    def type(self) -> str:
        return self.payload.event_type

    @property
    def topic(self) -> str:
        return self.payload.event_type

    @property
    def key(self) -> str:
        return self.payload.key

    @property
    def subject(self) -> str:
        return self.payload.key
