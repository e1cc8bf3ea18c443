"""W3C trace context from an HTTP request through the outbox and Kafka to every consumer.

Off by default (`MOORING_TRACING_EXPORTER=none`): the OpenTelemetry API then records nothing
and costs next to nothing, but a `traceparent` that arrives is still passed along. With `otlp`
(endpoint from the standard OTEL_EXPORTER_OTLP_ENDPOINT) or `console`, a composition root's
runtime installs one tracer provider per process and OpenTelemetry's own instrumentations for
FastAPI (each app), httpx (the platform client), SQLAlchemy (every engine) and aiokafka.

The outbox breaks the call stack between a request and the event it caused, so the context is
stored with the row (`traceparent`/`tracestate` in its headers) and the relay publishes the row
inside that context: the producer span, and the `traceparent` header the aiokafka
instrumentation writes, belong to the request's trace. A consumer extracts it and handles the
record inside a `process <topic>` span; one connect is one trace, end to end.

Spans keep a URL's query names, never its values: those carry OAuth codes, states and tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Literal

import httpx
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "TRACE_HEADERS",
    "TracingSettings",
    "configure_tracing",
    "consumer_span",
    "current_trace_headers",
    "instrument_app",
    "instrument_http_client",
    "publishing_context",
    "tracing_enabled",
]

TRACE_HEADERS = frozenset({"traceparent", "tracestate"})
_state: dict[str, bool] = {"enabled": False}


class TracingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOORING_TRACING_", extra="ignore", frozen=True)

    exporter: Literal["none", "otlp", "console"] = "none"
    sample_ratio: float = 1.0


def tracing_enabled() -> bool:
    return _state["enabled"]


def configure_tracing(service: str, settings: TracingSettings, *, exporter: Any = None) -> bool:
    """Install this process's tracer provider and the library instrumentations, once.

    `exporter` (tests: an in-memory one) replaces the configured exporter; given to a later
    call, it is added to the provider already installed. True when tracing is on in this
    process.
    """
    if _state["enabled"]:
        if exporter is not None:
            _export_also_to(exporter)
        return True
    if exporter is None and settings.exporter == "none":
        return False
    # Imported here: a process with tracing off never loads the SDK or the exporters.
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased  # noqa: PLC0415

    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif settings.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    AIOKafkaInstrumentor().instrument()
    # Every engine made from now on. Its declared range stops below SQLAlchemy 2.1, whose engine
    # events it uses unchanged (tests/test_tracing.py shows the statement spans).
    SQLAlchemyInstrumentor().instrument(skip_dep_check=True)
    _state["enabled"] = True
    return True


def _export_also_to(exporter: Any) -> None:
    # The API keeps the first provider of a process and ignores any later one (it only warns),
    # and the instrumentations are bound to it: a second test in the same session would
    # otherwise get an exporter that never sees a span.
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415

    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.add_span_processor(SimpleSpanProcessor(exporter))


def instrument_app(app: Any) -> None:
    if tracing_enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415

        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="/health/.*,/metrics", server_request_hook=_server_request_hook
        )


def instrument_http_client(client: Any) -> None:
    """The platform client (on whatever transport) makes a span per call and sends context.

    The instrumentation wraps the client's own transport object (not httpx's transport
    classes), so the aiohttp transport is traced like httpx's own.
    """
    if tracing_enabled():
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415

        # An async client calls only an async hook, a sync client only a sync one.
        hook: Any = (
            _async_client_request_hook
            if isinstance(client, httpx.AsyncClient)
            else _client_request_hook
        )
        HTTPXClientInstrumentor.instrument_client(client, request_hook=hook)


# Where the FastAPI and httpx instrumentations put a request's URL (old and stable semantic
# conventions). Query values are where secrets travel: the code and state on our OAuth callbacks,
# the client secret, code and user token on Meta's token calls. The instrumentations redact
# only a fixed few (AWS and Google signatures), and traces leave the process, so every value
# goes; the names still say what the call was.
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target", "url.query")


def _names_only(query: str) -> str:
    parts = query.partition("#")[0].split("&")
    return "&".join(f"{part.partition('=')[0]}=REDACTED" for part in parts if part)


def _redact_urls(span: Any) -> None:
    if span is None or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if not isinstance(value, str):
            continue
        if key == "url.query":
            span.set_attribute(key, _names_only(value))
            continue
        base, question, query = value.partition("?")
        if question:
            span.set_attribute(key, f"{base}?{_names_only(query)}")


def _server_request_hook(span: Any, scope: Any) -> None:  # noqa: ARG001 - the hook's signature
    _redact_urls(span)


def _client_request_hook(span: Any, request: Any) -> None:  # noqa: ARG001 - the hook's signature
    _redact_urls(span)


async def _async_client_request_hook(span: Any, request: Any) -> None:  # noqa: ARG001
    _redact_urls(span)


def current_trace_headers() -> dict[str, str]:
    """The current trace context as headers, to keep with an outbox row ({} outside a trace)."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def publishing_context(headers: MutableMapping[str, str]) -> Iterator[None]:
    """Publish a stored row inside the trace it was written in.

    Takes the stored trace headers out of `headers`; with the aiokafka instrumentation on, its
    producer span becomes a child of that trace and writes the header; without it, the stored
    context is written back as is, so a traced consumer still continues the trace.
    """
    stored = {k: headers.pop(k) for k in list(headers) if k in TRACE_HEADERS}
    if not stored:
        yield
        return
    token = otel_context.attach(propagate.extract(stored))
    try:
        if not tracing_enabled():
            headers.update(stored)
        yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def consumer_span(topic: str, headers: Iterable[tuple[str, bytes | None]]) -> Iterator[None]:
    """Handle a record inside a `process <topic>` span that continues the producer's trace."""
    carrier: Mapping[str, str] = {
        k: (v or b"").decode(errors="replace") for k, v in headers if k in TRACE_HEADERS
    }
    tracer = trace.get_tracer("mooring.consumer")
    with tracer.start_as_current_span(
        f"process {topic}", context=propagate.extract(carrier), kind=trace.SpanKind.CONSUMER
    ):
        yield
