"""The connector composition root: the only place its collaborators are chosen and wired."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
from fastapi import FastAPI
from prometheus_client import Counter

from connector.adapters.platforms import DeferredCipher, PlatformDirectory
from connector.config import Settings
from connector.domain.ratelimit import StartWindow
from connector.entrypoints.http import build_routers
from connector.service_layer.accounts import AccountRegistry
from connector.service_layer.admission import Admission
from connector.service_layer.bluesky import BlueskyConnect
from connector.service_layer.connect import ConnectFlows
from connector.service_layer.purge import SessionPurge
from connector.service_layer.unit_of_work import ConnectorUnitOfWork
from mooring.billing import BillingClient
from mooring.platforms import SqlMastodonAppStore
from mooring.platforms.transport import AiohttpTransport
from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime
from mooring.service.tracing import instrument_http_client

__all__ = ["SERVICE", "create_app"]

SERVICE = "connector"
logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, unit_of_work=ConnectorUnitOfWork, needs_vault=True)
    apps = SqlMastodonAppStore(runtime.engine, DeferredCipher(lambda: runtime.vault))
    platforms = PlatformDirectory(settings.platforms, mastodon_apps=apps)
    runtime.on_start(platforms.open)
    runtime.on_stop(platforms.close)
    # Its own pool to billing-gate, on the aiohttp transport: httpx's own pool costs ~2 ms of
    # CPU per call here (bench/bench_http_client.py), more than a whole start otherwise.
    billing_http = httpx.AsyncClient(
        base_url=settings.billing.base_url,
        transport=AiohttpTransport(limits=settings.platforms.http.limits()),
    )
    instrument_http_client(billing_http)  # billing-gate's spans join the connect's trace
    billing = BillingClient(settings.billing, http=billing_http)
    runtime.on_stop(billing_http.aclose)

    window = StartWindow(limit=settings.connect_rate_limit, window_s=settings.connect_rate_window_s)
    admission = Admission(
        uow=runtime.unit_of_work,
        billing=billing,
        reservation_ttl_s=settings.reservation_ttl_s,
        billing_attempts=settings.billing_attempts,
    )
    flows = ConnectFlows(
        uow=runtime.unit_of_work,
        platforms=platforms,
        billing=billing,
        admission=admission,
        redirects=settings.redirect_policy(),
        public_url=settings.public_url,
        state_ttl=timedelta(seconds=settings.state_ttl_s),
        start_window=window,
    )
    bluesky = BlueskyConnect(
        uow=runtime.unit_of_work,
        platforms=platforms,
        billing=billing,
        admission=admission,
        start_window=window,
    )
    purge = SessionPurge(
        uow=runtime.unit_of_work,
        interval_s=settings.purge_interval_s,
        retention=timedelta(seconds=settings.session_retention_s),
    )
    runtime.background("session-purge", purge.run)

    connects = Counter(
        "mooring_connector_connects_total",
        "Connect steps by platform and outcome (started, connected, selection, or the "
        "callback's error code).",
        ["service", "platform", "outcome"],
        registry=runtime.metrics.registry,
    )

    if not settings.billing.service_token.get_secret_value():
        logger.warning("MOORING_BILLING_SERVICE_TOKEN is empty: billing-gate will answer 401")
    app = build_http_app(
        runtime,
        title="Mooring connector",
        routers=build_routers(
            flows=flows,
            bluesky=bluesky,
            registry=AccountRegistry(runtime.unit_of_work),
            gateway=settings.gateway,
            outcomes=lambda platform, outcome: connects.labels(SERVICE, platform, outcome).inc(),
        ),
    )
    app.state.flows = flows
    return app
