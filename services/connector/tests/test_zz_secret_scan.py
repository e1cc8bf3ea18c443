"""After the whole run: no token the simulator issued is anywhere Mooring wrote.

The scan runs last in the session (this module's name sorts after the others) and covers every
response the connector and billing-gate gave the tests, every record of every topic of the
run's prefix (dead-letter topics included), both services' log output, and the plain columns of
the database (sealed columns are ciphertext, checked to be so). It first drives a few connects
of its own, so it means something when it runs alone too.

Looked for: every access and refresh token and authorization code in the simulator's store, and
every Bluesky password it knows (app and main passwords alike).
"""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from .conftest import Stack
from .flows import connect

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.e2e]

_MIN_SECRET = 12  # shorter values (none is) would match by accident


async def kafka_records(stack: Stack) -> list[bytes]:
    """Every key, value and header of every topic under the run's prefix, from the start."""
    bootstrap = stack.kafka.bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(stack.topic_prefix)]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[bytes] = []
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    found += [record.key or b"", record.value or b""]
                    found += [bytes(v) for _, v in record.headers]
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return found


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    # A topic this consumer never saw has no metadata yet: ask the cluster.
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def database_text(stack: Stack) -> list[str]:
    rows = await stack.sql("SELECT payload::text FROM outbox")
    rows += await stack.sql(
        "SELECT concat_ws(' ', id, workspace_id, user_id, platform, redirect_url, service_url, "
        "status, error, candidates::text, account_ids::text) FROM connector_sessions"
    )
    rows += await stack.sql(
        "SELECT concat_ws(' ', id, platform_account_id, username, display_name, avatar_url, "
        "service_url, last_failure, meta::text) FROM accounts"
    )
    return [str(row[0]) for row in rows]


async def exercise(stack: Stack) -> None:
    """A few connects of every kind, so the scan has tokens to look for when run alone."""
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        x = await connect(stack, client, ws, "x", f"scan{uuid.uuid4().hex[:6]}")
        await connect(stack, client, ws, "x", "someone-else", reconnect_account_id=x["account_id"])
        fb = await connect(stack, client, ws, "facebook", f"scan{uuid.uuid4().hex[:6]}")
        path = f"/v1/workspaces/{ws}/connections/{fb['selection']}"
        (await client.get(path)).raise_for_status()
        ids = [c["id"] for c in (await client.get(path)).json()["candidates"]][:1]
        (await client.post(f"{path}/selection", json={"candidate_ids": ids})).raise_for_status()
        handle = f"scan{uuid.uuid4().hex[:6]}.bsky.social"
        await stack.sim_control(
            "POST", "/bluesky/accounts", {"handle": handle, "app_password": "scan-scan-scan-1234"}
        )
        for password in ("scan-scan-scan-1234", "wron-gpas-swor-d123"):
            await client.post(
                f"/v1/workspaces/{ws}/accounts/bluesky",
                json={"handle": handle, "app_password": password},
            )
        await connect(
            stack, client, ws, "mastodon", "scan",
            instance_url=f"{stack.sim.url}/mastodon/scan.example",
        )  # fmt: skip


async def test_no_token_the_simulator_issued_appears_in_any_output(stack):
    await exercise(stack)
    secrets = {s for s in stack.sim.issued_secrets() if len(s) >= _MIN_SECRET}
    assert len(secrets) >= 10, "the run issued too few tokens for the scan to mean anything"
    haystacks = {
        "response": stack.responses,
        "kafka": [r.decode(errors="replace") for r in await kafka_records(stack)],
        "log": stack.log_lines(),
        "database": await database_text(stack),
    }
    assert len(haystacks["response"]) >= 10
    assert len(haystacks["kafka"]) >= 10
    assert len(haystacks["log"]) >= 10
    kinds = {
        value: getattr(token, "kind", "code")
        for value, token in [
            *stack.sim.state.store.tokens.items(),
            *stack.sim.state.store.codes.items(),
        ]
    }
    leaks = [
        (where, kinds.get(secret, "password"), secret[:6] + "…")
        for where, texts in haystacks.items()
        for text in texts
        for secret in secrets
        if secret in text
    ]
    assert leaks == [], leaks
    # The sealed columns are ciphertext: no secret in them either.
    # Only accounts connect flows made: other packages' tests share the database and
    # store placeholder bytes of their own.
    sealed = await stack.sql(
        "SELECT credentials FROM accounts "
        "WHERE workspace_id IN (SELECT workspace_id FROM connector_sessions)"
    )
    sealed += await stack.sql("SELECT sealed FROM connector_sessions WHERE sealed IS NOT NULL")
    blobs = [bytes(row[0]) for row in sealed]
    assert blobs
    assert all(blob.startswith(b"M1") for blob in blobs)
    assert not [s for s in secrets for blob in blobs if s.encode() in blob]
