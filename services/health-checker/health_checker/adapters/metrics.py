"""The health-checker's own Prometheus metrics, on the runtime's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from health_checker.domain.checks import TRANSITIONS, Checked

__all__ = ["CheckerMetrics"]


class CheckerMetrics:
    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self._service = service
        registry = registry or CollectorRegistry()
        self.checked = Counter(
            "mooring_health_accounts_checked_total",
            "Accounts checked, by platform and outcome (ok, repaired, recovered, expired, "
            "disconnected, transient, policy, changed, gone, already, error).",
            ["service", "platform", "outcome"],
            registry=registry,
        )
        self.transitions = Counter(
            "mooring_health_transitions_total",
            "Status changes made by checks, by platform and kind (expired: connected -> "
            "token_expired; disconnected: token_expired -> disconnected; recovered: "
            "token_expired -> connected).",
            ["service", "platform", "kind"],
            registry=registry,
        )
        self.rate_limit_waits = Counter(
            "mooring_health_rate_limit_waits_total",
            "Platform requests that waited for the platform's rate, or for a pause a 429/503 "
            "asked for.",
            ["service", "platform"],
            registry=registry,
        )
        self.rate_limit_wait_seconds = Counter(
            "mooring_health_rate_limit_wait_seconds_total",
            "Seconds platform requests spent waiting for the platform's limits.",
            ["service", "platform"],
            registry=registry,
        )
        self.stuck = Counter(
            "mooring_health_stuck_posts_total",
            "Stuck deliveries decided, by decision (retry, failed).",
            ["service", "decision"],
            registry=registry,
        )

    def account_checked(self, platform: str, outcome: Checked) -> None:
        self.checked.labels(self._service, platform, outcome.value).inc()
        if outcome in TRANSITIONS:
            self.transitions.labels(self._service, platform, outcome.value).inc()

    def waited(self, platform: str, seconds: float) -> None:
        self.rate_limit_waits.labels(self._service, platform).inc()
        self.rate_limit_wait_seconds.labels(self._service, platform).inc(seconds)

    def stuck_decided(self, decision: str) -> None:
        self.stuck.labels(self._service, decision).inc()
