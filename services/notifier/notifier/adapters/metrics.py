"""The notifier's own Prometheus metrics, on the runtime's registry (served at /metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from notifier.domain.incidents import Plan

__all__ = ["NotifierMetrics"]


@dataclass
class NotifierMetrics:
    registry: CollectorRegistry

    def __post_init__(self) -> None:
        self.signals = Counter(
            "mooring_notifier_signals_total",
            "What became of each consumed signal (notified, grouped, same_incident, stale, "
            "duplicate, nothing_to_recover, removed, seen).",
            ["outcome"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "mooring_notifier_notifications_total",
            "In-app notifications created, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "mooring_notifier_delivery_outcomes_total",
            "Outcomes of e-mail delivery attempts (sent, pending = retried later, failed, "
            "held, superseded).",
            ["status"],
            registry=self.registry,
        )

    def planned(self, plan: Plan) -> None:
        for outcome, count in plan.outcomes.items():
            self.signals.labels(outcome).inc(count)
        for draft in plan.notifications:
            self.notifications.labels(draft.kind).inc()

    def delivered(self, status: str) -> None:
        self.deliveries.labels(status).inc()
