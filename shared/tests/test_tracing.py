"""One connect, one trace: the HTTP request's span, the relay's producer span and the consumer's
span share a trace id, although the outbox sits between them (real Kafka and PostgreSQL)."""

import asyncio
import uuid

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from mooring.events import AccountConnected, Envelope, utcnow
from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime
from mooring.service.settings import ServiceSettings
from mooring.service.tracing import TracingSettings, configure_tracing, current_trace_headers
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import scratch_topic_prefix, unique
from mooring.uow import SqlUnitOfWork

pytestmark = [pytest.mark.integration, pytest.mark.connected]


async def test_a_request_and_the_event_it_causes_are_one_trace(
    database_settings: DatabaseSettings, kafka_settings: KafkaSettings
) -> None:
    exporter = InMemorySpanExporter()
    assert configure_tracing("trace-test", TracingSettings(), exporter=exporter)
    prefix = scratch_topic_prefix("trace")
    settings = ServiceSettings(
        database=database_settings,
        kafka=kafka_settings.model_copy(update={"topic_prefix": prefix}),
        migrate_on_start=False,
    )
    producer_side = ServiceRuntime("trace-connector", settings)
    consumer_side = ServiceRuntime(
        "trace-consumer",
        settings.model_copy(update={"relay_enabled": False, "consumer_group": unique("trace")}),
    )
    router = APIRouter()
    stored: list[dict[str, str]] = []

    @router.post("/connect")
    async def connect() -> dict[str, str]:
        stored.append(current_trace_headers())
        async with producer_side.unit_of_work() as uow:
            uow.emit(
                Envelope(
                    AccountConnected(
                        account_id=uuid.uuid4(), workspace_id=uuid.uuid4(), platform="x",
                        platform_account_id="1", connected_at=utcnow(),
                    ),
                    source="mooring/connector",
                )
            )  # fmt: skip
            await uow.commit()
        return {"ok": "yes"}

    handled = asyncio.Event()

    async def on_connected(envelope: Envelope[AccountConnected], uow: SqlUnitOfWork) -> None:
        await uow.session.execute(text("SELECT 1"))
        handled.set()

    consumer_side.subscribe(AccountConnected, on_connected)
    app = build_http_app(producer_side, title="trace", routers=[router])
    async with producer_side.lifespan(), consumer_side.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.post("/connect")).status_code == 200
        await asyncio.wait_for(handled.wait(), 60)
    assert stored[0]["traceparent"].startswith("00-")  # the request's context was stored
    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.name == "POST /connect")
    trace_id = request.context.trace_id
    in_trace = {s.name for s in spans if s.context.trace_id == trace_id}
    topic = prefix + "account.connected"
    assert f"process {topic}" in in_trace, in_trace
    assert f"{topic} send" in in_trace, in_trace  # the relay published inside the trace
    assert {"INSERT", "SELECT"} <= in_trace, in_trace  # the outbox write, the consumer query
