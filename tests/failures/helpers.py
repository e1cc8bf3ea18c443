"""What the failure tests share: producing CloudEvents straight to Kafka, reading the database,
waiting for a condition, asking a service whether it is ready."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.events import Envelope, Event
from mooring.messaging.cloudevents import encode_body, encode_headers
from tests.system import SERVICES, System

__all__ = [
    "Raw",
    "caught_up",
    "cloudevent",
    "connect_bluesky",
    "every_service",
    "produce",
    "produce_raw",
    "readiness",
    "scalar",
    "wait_until",
]

# (key, value, headers) of a record written as is, malformed on purpose or not.
Raw = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def cloudevent(envelope: Envelope[Event]) -> Raw:
    """The record the outbox relay would write for `envelope` (CloudEvents binary mode)."""
    headers = [(k, v.encode()) for k, v in encode_headers(envelope).items()]
    return envelope.key.encode(), encode_body(envelope), headers


async def produce_raw(bootstrap: str, topic: str, records: Iterable[Raw]) -> int:
    """Write records in order (one key's records keep their order), waiting for every ack."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=20, max_batch_size=262_144
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def produce(bootstrap: str, prefix: str, envelopes: Sequence[Envelope[Any]]) -> int:
    """Publish events as the relay does, each to its topic under `prefix`."""
    by_topic: dict[str, list[Raw]] = {}
    for envelope in envelopes:
        by_topic.setdefault(prefix + envelope.topic, []).append(cloudevent(envelope))
    sent = 0
    for topic, records in by_topic.items():
        sent += await produce_raw(bootstrap, topic, records)
    return sent


async def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Whether `group` has committed every partition of `topic` up to its end."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer.topics()  # the metadata may not have been fetched yet
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        return all(
            ends[tp] == 0 or (tp in committed and committed[tp].offset >= ends[tp]) for tp in tps
        )
    finally:
        await consumer.stop()
        await admin.close()


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.2,
) -> float:
    """Poll `check` until it holds; the seconds it took. Raises with `what` on timeout."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"after {timeout_s:.0f} s: {what}")
        await asyncio.sleep(interval_s)
    return time.monotonic() - started


async def readiness(url: str) -> tuple[int, dict[str, str]]:
    """(status, checks) of `url`/health/ready; (0, {}) when nothing answers."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{url}/health/ready")
    except httpx.TransportError:
        return 0, {}
    return response.status_code, dict(response.json().get("checks", {}))


async def every_service(system: System, *, ready: bool, check: str) -> bool:
    """Whether every service says it is ready (200, `check` ok), or, with `ready` False, that
    every one says it is not, for want of `check` (503, `check` not ok)."""
    for package in SERVICES:
        status, checks = await readiness(system.urls[package])
        if ready != (status == 200 and checks.get(check) == "ok"):
            return False
        if not ready and status != 503:  # no answer at all is not "not ready"
            return False
    return True


async def connect_bluesky(
    client: httpx.AsyncClient, system: System, workspace: uuid.UUID, name: str
) -> uuid.UUID:
    """Connect a Bluesky account through the connector (one request: no consent page); its id.

    The simulator registers an unknown handle with the first app password it is given.
    """
    response = await client.post(
        f"{system.urls['connector']}/v1/workspaces/{workspace}/accounts/bluesky",
        json={"handle": f"{name}.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
        headers={"Authorization": f"Bearer {system.gateway_token(workspace)}"},
    )
    if response.status_code != 201:
        raise AssertionError(f"connect {name}: {response.status_code} {response.text}")
    return uuid.UUID(response.json()["id"])
