"""The health-checker composition root: the only place its collaborators are chosen and wired."""

from __future__ import annotations

import logging
import socket
import uuid
from datetime import timedelta

from fastapi import FastAPI

from health_checker.adapters.leases import PlatformTurns
from health_checker.adapters.metrics import CheckerMetrics
from health_checker.adapters.platforms import PlatformDirectory
from health_checker.config import Settings
from health_checker.entrypoints.http import STUCK_JOB, build_routers
from health_checker.entrypoints.kafka import KafkaHandlers
from health_checker.service_layer.check_account import AccountChecker
from health_checker.service_layer.check_job import CheckConnections
from health_checker.service_layer.check_worker import CheckWorker
from health_checker.service_layer.stuck import RecoverStuckPosts
from health_checker.service_layer.unit_of_work import HealthUnitOfWork
from mooring.events import PostFailed, PostPublished, PostPublishing
from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime

__all__ = ["CHECK_JOB", "SERVICE", "STUCK_JOB", "create_app"]

SERVICE = "health-checker"
CHECK_JOB = "social:check-connections"
logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, unit_of_work=HealthUnitOfWork, needs_vault=True)
    metrics = CheckerMetrics(SERVICE, runtime.metrics.registry)

    platforms = PlatformDirectory(
        settings.platforms, settings.platform_limits, on_wait=metrics.waited
    )
    turns = PlatformTurns(settings.database.libpq_url)
    runtime.on_start(platforms.open)
    runtime.on_stop(platforms.close)
    runtime.on_stop(turns.close)

    checker = AccountChecker(uow=runtime.unit_of_work, adapters=platforms.adapter)
    worker = CheckWorker(
        uow=runtime.unit_of_work,
        checker=checker,
        gates=lambda: platforms.gates,
        turns=turns,
        limits=settings.platform_limits,
        parallel_platforms=settings.check_parallel_platforms,
        turn_s=settings.check_turn_s,
        poll_s=settings.check_poll_s,
        # verify, refresh, verify: each may be sent as often as the retry policy allows
        calls_per_check=3 * settings.platforms.http.retry_attempts,
        on_checked=metrics.account_checked,
        owner=f"{SERVICE}@{socket.gethostname()}:{uuid.uuid4().hex[:6]}",
    )
    runtime.background("check-worker", worker.run)
    runtime.schedule(
        CHECK_JOB,
        CheckConnections(
            uow=runtime.unit_of_work,
            worker=worker,
            window_s=settings.check_window_s,
            batch_size=settings.check_batch_size,
        ),
        every=timedelta(seconds=settings.check_every_s),
        offset=timedelta(seconds=settings.check_offset_s),
    )

    retention = timedelta(seconds=settings.delivery_retention_s)
    handlers = KafkaHandlers(retention=retention)
    runtime.subscribe_batch(PostPublishing, handlers.on_deliveries)
    runtime.subscribe_batch(PostPublished, handlers.on_deliveries)
    runtime.subscribe_batch(PostFailed, handlers.on_deliveries)
    runtime.schedule(
        STUCK_JOB,
        RecoverStuckPosts(
            uow=runtime.unit_of_work,
            threshold=timedelta(seconds=settings.stuck_threshold_s),
            max_attempts=settings.stuck_max_attempts,
            retention=retention,
            on_decided=metrics.stuck_decided,
        ),
        every=timedelta(seconds=settings.stuck_every_s),
    )

    if not settings.service_tokens:
        logger.warning("HEALTH_CHECKER_SERVICE_TOKENS is empty: every internal route answers 401")
    app = build_http_app(
        runtime,
        title="Mooring health-checker",
        routers=build_routers(
            runtime.unit_of_work, runtime.scheduler.recent_runs, settings.service_tokens
        ),
    )
    app.state.worker = worker
    app.state.platforms = platforms
    return app
