"""A service's AsyncAPI 3.0 document: the events it publishes and consumes, from its runtime.

What it consumes is what its composition root subscribed; what it publishes is what the
contract names it the producer of (`mooring.events.CONTRACT_SOURCES`). Payloads refer to the
committed JSON Schemas in deploy/schemas/, so the event contract is written down once; the
CloudEvents attributes travel as Kafka headers, the key is the aggregate's id.
"""

from __future__ import annotations

from typing import Any

from mooring.events import ALL_EVENTS, CONTRACT_SOURCES, Event, dlq_topic

__all__ = ["asyncapi_document"]

_HEADERS = {
    "type": "object",
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid", "description": "Deduplication key."},
        "ce_type": {"type": "string", "description": "The event type, also the topic."},
        "ce_source": {"type": "string", "description": "The producer, e.g. mooring/connector."},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The aggregate id (the key)."},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context, when traced."},
    },
}


def _channel_id(event_type: str) -> str:
    return event_type.replace(".", "-")


def asyncapi_document(service: str, consumed: dict[str, str]) -> dict[str, Any]:
    """`consumed`: event type -> consumer group (the runtime's subscriptions)."""
    by_type: dict[str, type[Event]] = {e.event_type: e for e in ALL_EVENTS}
    published = sorted(
        t for t, sources in CONTRACT_SOURCES.items() if f"mooring/{service}" in sources
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event_type in sorted(set(published) | set(consumed)):
        model = by_type[event_type]
        cid = _channel_id(event_type)
        channels[cid] = {
            "address": event_type,
            "description": f"Topic {event_type} (prefixed by KAFKA_TOPIC_PREFIX); "
            f"dead letters go to {dlq_topic(event_type)}.",
            "messages": {
                model.__name__: {
                    "name": event_type,
                    "contentType": "application/json",
                    "headers": _HEADERS,
                    "payload": {"$ref": f"../schemas/{event_type}.json"},
                    "bindings": {
                        "kafka": {
                            "key": {"type": "string", "description": f"The {model.key_field}."}
                        }
                    },
                }
            },
        }
        message = {"$ref": f"#/channels/{cid}/messages/{model.__name__}"}
        if event_type in published:
            operations[f"publish-{cid}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{cid}"},
                "messages": [message],
                "description": "Written to the outbox with the state change it reports; "
                "relayed to Kafka by an idempotent producer, at least once.",
            }
        if event_type in consumed:
            operations[f"consume-{cid}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{cid}"},
                "messages": [message],
                "description": "Deduplicated by ce_id through the inbox; a malformed or "
                "refused event goes to the dead-letter topic with the reason in dlq-error.",
                "bindings": {
                    "kafka": {"groupId": {"type": "string", "const": consumed[event_type]}}
                },
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"Mooring {service}",
            "version": "1",
            "description": "Events as CloudEvents 1.0 in Kafka's binary content mode.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "kafka:9093",
                "protocol": "kafka",
                "description": "SASL SCRAM-SHA-512 over TLS on a shared cluster "
                "(docs/kafka-security.md); PLAINTEXT on loopback in development.",
            }
        },
        "channels": channels,
        "operations": operations,
    }
