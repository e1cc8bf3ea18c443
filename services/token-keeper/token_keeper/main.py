"""The token-keeper composition root: the only place its collaborators are chosen and wired."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI

from mooring.events.token import TokenExpiring
from mooring.platforms import SqlMastodonAppStore
from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime
from token_keeper.adapters.metrics import KeeperMetrics
from token_keeper.adapters.platforms import PlatformDirectory, VaultCipher
from token_keeper.config import Settings
from token_keeper.entrypoints.http import build_routers
from token_keeper.entrypoints.kafka import RefreshWorkers
from token_keeper.service_layer.refresher import Refresher
from token_keeper.service_layer.sweep import Sweep
from token_keeper.service_layer.tokens import TokenDesk
from token_keeper.service_layer.unit_of_work import KeeperUnitOfWork

__all__ = ["REFRESH_JOB", "RETRY_JOB", "SERVICE", "create_app"]

SERVICE = "token-keeper"
REFRESH_JOB = "social:refresh-expiring-tokens"
RETRY_JOB = "social:retry-failed-refreshes"
# Connections besides the refreshes: the batch's inbox transaction, the on-demand reads, the
# sweep's pages, readiness pings.
_POOL_HEADROOM = 4

logger = logging.getLogger(__name__)


def _sized_pool(settings: Settings) -> Settings:
    """Every concurrent refresh holds a connection for its platform call: the pool must fit."""
    needed = settings.worker_concurrency + _POOL_HEADROOM
    if settings.database.pool_size >= needed:
        return settings
    database = settings.database.model_copy(update={"pool_size": needed})
    return settings.model_copy(update={"database": database})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = _sized_pool(settings or Settings())
    runtime = ServiceRuntime(SERVICE, settings, unit_of_work=KeeperUnitOfWork, needs_vault=True)
    metrics = KeeperMetrics(runtime.metrics.registry)
    platforms = PlatformDirectory(
        settings.platforms,
        mastodon_apps=SqlMastodonAppStore(runtime.engine, VaultCipher(lambda: runtime.vault)),
    )
    runtime.on_start(platforms.open)
    runtime.on_stop(platforms.close)

    rules = settings.refresh_rules()
    refresher = Refresher(
        uow=runtime.unit_of_work,
        adapter_for=platforms.adapter_for,
        refresh_rules=rules,
        failure_rules=settings.failure_rules(),
        metrics=metrics,
    )
    sweep = Sweep(
        uow=runtime.unit_of_work, rules=rules, page_size=settings.sweep_page_size, metrics=metrics
    )
    runtime.schedule(
        REFRESH_JOB, sweep.refresh_expiring, every=timedelta(seconds=settings.sweep_every_s)
    )
    runtime.schedule(RETRY_JOB, sweep.retry_failed, every=timedelta(seconds=settings.retry_every_s))

    workers = RefreshWorkers(refresher, concurrency=settings.worker_concurrency)
    runtime.subscribe_batch(
        TokenExpiring, workers.on_token_expiring, max_records=settings.worker_batch_size
    )

    desk = TokenDesk(
        uow=runtime.unit_of_work,
        refresher=refresher,
        margin=timedelta(seconds=settings.token_margin_s),
        metrics=metrics,
    )
    if not settings.service_tokens:
        logger.warning("TOKEN_KEEPER_SERVICE_TOKENS is empty: every internal route answers 401")
    app = build_http_app(
        runtime,
        title="Mooring token-keeper",
        routers=build_routers(desk, settings.service_tokens),
    )
    app.state.refresher = refresher
    app.state.sweep = sweep
    app.state.desk = desk
    return app
