"""One real connect is one trace: from the connector's callback, through the outbox and the relay,
to billing-gate's handling of `account.connected`.

The real connector (`connector.main.create_app`) and the real billing-gate
(`billing_gate.main.create_app`) run in this process, each served by uvicorn on a loopback port
with its lifespan (so each has its runtime: engine, relay, consumers), against the simulator of
the session (`sim_thread`), Kafka under a fresh topic prefix and a database of their own, with
tracing exported to memory. An X connect goes as a browser does it: start, the simulator's
non-interactive consent, the callback.

In the callback's trace there must be the FastAPI server span of the callback, the platform
client's httpx spans to the simulator (over the aiohttp transport), the relay's `<topic> send`
span (aiokafka) and billing-gate's `process <topic>` span, linked parent to child. The commit
between the request and the relay breaks the call stack: only the `traceparent` the outbox keeps
with the row carries the trace across it, so without it the send span, and everything after it,
would start a trace of its own and this test would fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from billing_gate.config import Settings as BillingGateSettings
from billing_gate.main import create_app as create_billing_gate
from connector.config import Settings as ConnectorSettings
from connector.main import create_app as create_connector
from mooring.billing import BillingClientSettings
from mooring.db.migrate import upgrade
from mooring.platforms.simulator import simulator_settings
from mooring.service.auth import GatewayJwtSettings, issue_gateway_token
from mooring.service.tracing import TracingSettings, configure_tracing
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import random_vault_settings, scratch_topic_prefix, unique

from .conftest import SimThread, free_port
from .flows import consent, landing_of, start

pytestmark = [pytest.mark.integration, pytest.mark.connected]

CALLBACK_ROUTE = "/v1/oauth/{platform}/callback"


@pytest.fixture
def own_database(scratch_database: DatabaseSettings) -> DatabaseSettings:
    # Not the session's database: the relays of the `stack` processes other tests leave running
    # take the same advisory lock, and a row one of them published would leave its send span in
    # that process, out of this exporter's sight.
    upgrade(scratch_database)
    return scratch_database


@contextlib.asynccontextmanager
async def serving(app: FastAPI, port: int) -> AsyncIterator[str]:
    """`app` on loopback, its lifespan (the runtime) started, until it answers ready."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False
        )
    )
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=url, timeout=3) as probe:
            while True:
                if task.done():
                    raise RuntimeError(f"{app.title} stopped while starting")
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get("/health/ready")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{app.title} not ready")
                await asyncio.sleep(0.2)
        yield url
    finally:
        server.should_exit = True
        await task


def url_of(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    # The stable HTTP semantic conventions name it url.full, the older ones http.url.
    return str(attributes.get("url.full") or attributes.get("http.url") or "")


async def finished(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        spans = [s for s in exporter.get_finished_spans() if s.name == name]
        if spans:
            return spans
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"no {name!r} span: {sorted({s.name for s in exporter.get_finished_spans()})}"
    )


async def test_one_connect_is_one_trace_from_the_callback_to_the_consumer(
    own_database: DatabaseSettings, kafka_settings: KafkaSettings, sim_thread: SimThread
) -> None:
    exporter = InMemorySpanExporter()
    # Before the apps are built: their runtimes and clients are instrumented as they are made.
    assert configure_tracing("connect-trace-test", TracingSettings(), exporter=exporter)
    prefix = scratch_topic_prefix("connect-trace")
    kafka = kafka_settings.model_copy(update={"topic_prefix": prefix})
    gateway = GatewayJwtSettings(secret=SecretStr(secrets.token_urlsafe(32)))
    service_token = secrets.token_urlsafe(24)
    billing_port, connector_port = free_port(), free_port()
    billing_gate = create_billing_gate(
        BillingGateSettings(
            database=own_database,
            kafka=kafka,
            migrate_on_start=False,
            # The connector's relay publishes the row: the relay of the process that wrote it.
            relay_enabled=False,
            service_tokens=[SecretStr(service_token)],
            gateway=gateway,
            consumer_group=unique("billing-gate"),
        )
    )
    connector = create_connector(
        ConnectorSettings(
            database=own_database,
            kafka=kafka,
            migrate_on_start=False,
            gateway=gateway,
            vault=random_vault_settings("t1"),
            public_url=f"http://127.0.0.1:{connector_port}",
            billing=BillingClientSettings(
                base_url=f"http://127.0.0.1:{billing_port}",
                service_token=SecretStr(service_token),
            ),
            platforms=simulator_settings(sim_thread.url),
            consumer_group=unique("connector"),
        )
    )
    ws = uuid.uuid4()
    token = issue_gateway_token(gateway, user_id="user-1", workspace_id=ws, role="owner")
    topic = f"{prefix}account.connected"
    try:
        async with (
            serving(billing_gate, billing_port),
            serving(connector, connector_port) as connector_url,
        ):
            async with httpx.AsyncClient(
                base_url=connector_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as gateway_client:
                started = await start(gateway_client, ws, "x")
            assert started.status_code == 201, started.text
            callback = await consent(
                started.json()["authorization_url"], f"tracy{uuid.uuid4().hex[:8]}"
            )
            async with httpx.AsyncClient(timeout=30) as browser:
                landing = landing_of(await browser.get(callback))
            assert landing["connected"] == "x"
            # The topic is this test's alone: its first processed record is this connect's.
            (process,) = await finished(exporter, f"process {topic}")
        spans = exporter.get_finished_spans()
    finally:
        exporter.shutdown()  # the provider outlives the test; its later spans are not kept

    (request,) = [
        s
        for s in spans
        if s.kind == SpanKind.SERVER and (s.attributes or {}).get("http.route") == CALLBACK_ROUTE
    ]
    trace_id = request.context.trace_id
    in_trace = {s.context.span_id: s for s in spans if s.context.trace_id == trace_id}
    names = sorted(s.name for s in in_trace.values())

    # The platform client is httpx over the aiohttp transport: its spans show it traced there.
    platform_calls = [
        s
        for s in in_trace.values()
        if s.kind == SpanKind.CLIENT and url_of(s).startswith(sim_thread.url)
    ]
    assert len(platform_calls) >= 2, names  # the code exchange and the profile read

    # The reservation and its confirmation at billing-gate: the connector's billing client sends
    # the context, so billing-gate's server spans are in the connect's trace too.
    billing_routes = {
        str((s.attributes or {}).get("http.route"))
        for s in in_trace.values()
        if s.kind == SpanKind.SERVER and s is not request
    }
    assert any(r.startswith("/internal/v1/workspaces/") for r in billing_routes), names

    (send,) = [s for s in spans if s.name == f"{topic} send"]
    assert send.context.trace_id == trace_id, names  # the outbox carried the context
    assert send.parent is not None, names
    assert send.parent.span_id in in_trace, names  # a span of the callback wrote the row
    assert (send.attributes or {}).get("messaging.kafka.message.key") == landing["account_id"]

    assert process.context.trace_id == trace_id, names  # billing-gate continued it
    assert process.parent is not None, names
    assert process.parent.span_id == send.context.span_id, names  # from the record's header

    # Traces leave the process (OTLP): neither the code, any token nor the state may be in one.
    hidden = sim_thread.issued_secrets() | {started.json()["state"]}
    leaks = [
        (span.name, key)
        for span in spans
        for attributes in (span.attributes, *(event.attributes for event in span.events))
        for key, value in (attributes or {}).items()
        if any(secret in str(value) for secret in hidden)
    ]
    assert not leaks, leaks
