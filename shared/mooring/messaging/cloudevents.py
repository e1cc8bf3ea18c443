"""CloudEvents 1.0 binary content mode over Kafka: attributes in `ce_*` headers, data in the body."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError

from mooring.events.base import Envelope, Event

__all__ = ["MalformedEventError", "decode", "encode_body", "encode_headers"]

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
E = TypeVar("E", bound=Event)

Headers = list[tuple[str, bytes]]


class MalformedEventError(ValueError):
    """A message that can never be processed as its topic's event: dead-lettered, not retried."""


def encode_headers(envelope: Envelope[Event]) -> dict[str, str]:
    return {
        "ce_specversion": SPEC_VERSION,
        "ce_id": str(envelope.id),
        "ce_type": envelope.type,
        "ce_source": envelope.source,
        "ce_time": envelope.time.isoformat(),
        "ce_subject": envelope.subject,
        "content-type": CONTENT_TYPE,
    }


def encode_body(envelope: Envelope[Event]) -> bytes:
    return envelope.payload.model_dump_json().encode()


def decode(model: type[E], headers: dict[str, str], body: bytes) -> Envelope[E]:
    """Rebuild an envelope, saying precisely what is wrong when it cannot."""
    required = ("ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time")
    missing = [h for h in required if not headers.get(h)]
    if missing:
        raise MalformedEventError(f"missing CloudEvents header(s): {', '.join(missing)}")
    if headers["ce_specversion"] != SPEC_VERSION:
        # Another version may name or mean its attributes differently: never guess.
        raise MalformedEventError(
            f"ce_specversion is {headers['ce_specversion'][:20]!r}; only {SPEC_VERSION} is read"
        )
    if headers["ce_type"] != model.event_type:
        raise MalformedEventError(
            f"ce_type is {headers['ce_type']!r}, this topic carries {model.event_type!r}"
        )
    try:
        event_id = uuid.UUID(headers["ce_id"])
        time = datetime.fromisoformat(headers["ce_time"])
    except ValueError as exc:
        raise MalformedEventError(f"bad CloudEvents attribute: {exc}") from None
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEventError(f"body is not JSON: {exc}") from None
    try:
        payload = model.model_validate(data)
    except ValidationError as exc:
        # Field locations and messages only: input values could be secrets someone misrouted.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise MalformedEventError(
            f"payload is not a valid {model.event_type}: {problems}"
        ) from None
    return Envelope(payload=payload, source=headers["ce_source"], id=event_id, time=time)
