"""The notifier composition root: the only place its collaborators are chosen and wired."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI

from mooring.events import WorkspaceOwnerChanged
from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime
from notifier.adapters.mail import SmtpSender, SmtpSettings
from notifier.adapters.metrics import NotifierMetrics
from notifier.adapters.rendering import MailRenderer
from notifier.config import Settings
from notifier.domain.deliveries import RetryPolicy
from notifier.domain.incidents import Rules
from notifier.domain.links import Links
from notifier.entrypoints.http import build_routers
from notifier.entrypoints.kafka import NOTIFIABLE, KafkaHandlers
from notifier.service_layer.directory import Directory
from notifier.service_layer.inbox import Inbox
from notifier.service_layer.mailer import DeliveryDesk, DeliveryWorker, HeldMailSweeper
from notifier.service_layer.unit_of_work import NotifierUnitOfWork

__all__ = ["SERVICE", "create_app"]

SERVICE = "notifier"
logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # No vault: the notifier never reads an account's secrets.
    runtime = ServiceRuntime(SERVICE, settings, unit_of_work=NotifierUnitOfWork)
    metrics = NotifierMetrics(runtime.metrics.registry)
    rules = Rules(
        post_cooldown=timedelta(seconds=settings.post_failure_cooldown_s),
        post_settle_s=settings.post_failure_settle_s,
        digest_settle_s=settings.digest_settle_s,
    )

    handlers = KafkaHandlers(rules=rules, on_plan=metrics.planned)
    for event in NOTIFIABLE:
        runtime.subscribe_batch(event, handlers.on_events, max_records=settings.intake_batch_max)
    runtime.subscribe_batch(
        WorkspaceOwnerChanged, handlers.on_owner_changed, max_records=settings.intake_batch_max
    )

    links = Links(
        reconnect=settings.reconnect_url_template,
        accounts=settings.accounts_url_template,
        preferences=settings.preferences_url_template,
    )
    sender = SmtpSender(
        SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout_s=settings.smtp_timeout_s,
            validate_certs=settings.smtp_validate_certs,
        )
    )
    workers = [
        DeliveryWorker(
            uow=runtime.unit_of_work,
            sender=sender,
            renderer=MailRenderer(links, settings.mail_from),
            policy=RetryPolicy(
                initial=timedelta(seconds=settings.delivery_retry_initial_s),
                maximum=timedelta(seconds=settings.delivery_retry_max_s),
                give_up_after=timedelta(seconds=settings.delivery_give_up_after_s),
            ),
            batch=settings.delivery_batch,
            lease_s=settings.delivery_lease_s,
            poll_s=settings.delivery_poll_s,
            on_outcome=metrics.delivered,
        )
        for _ in range(settings.delivery_senders)
    ]
    for number, worker in enumerate(workers, start=1):
        runtime.background(f"mail-sender-{number}", worker.run)

    def wake_workers() -> None:
        for worker in workers:
            worker.wake()

    sweeper = HeldMailSweeper(
        uow=runtime.unit_of_work, interval_s=settings.held_sweep_s, on_released=wake_workers
    )
    runtime.background("held-mail-sweeper", sweeper.run)

    if not settings.service_tokens:
        logger.warning("NOTIFIER_SERVICE_TOKENS is empty: every internal route answers 401")
    app = build_http_app(
        runtime,
        title="Mooring notifier",
        routers=build_routers(
            inbox=Inbox(runtime.unit_of_work),
            directory=Directory(runtime.unit_of_work),
            desk=DeliveryDesk(runtime.unit_of_work),
            gateway=settings.gateway,
            service_tokens=settings.service_tokens,
        ),
    )
    app.state.workers = workers
    return app
