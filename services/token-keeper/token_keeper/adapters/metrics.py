"""token-keeper's Prometheus metrics, on the runtime's registry (served at /metrics).

Labels are platforms, outcomes and reason codes: never an account id, never a token.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["KeeperMetrics"]


class KeeperMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.due = Counter(
            "mooring_token_keeper_accounts_due_total",
            "Accounts a sweep found due, by platform and kind (refresh, reminder, unreadable).",
            ["platform", "kind"],
            registry=registry,
        )
        self.refreshes = Counter(
            "mooring_token_keeper_refreshes_total",
            "Refresh attempts by platform, outcome (refreshed, not_due, revoked, transient, "
            "policy, skipped, missing, gave_up, busy) and who asked (worker, on_demand).",
            ["platform", "outcome", "trigger"],
            registry=registry,
        )
        self.failures = Counter(
            "mooring_token_keeper_refresh_failures_total",
            "Refreshes that failed, by platform, class (revoked, transient, policy) and reason.",
            ["platform", "failure_class", "reason"],
            registry=registry,
        )
        self.latency = Histogram(
            "mooring_token_keeper_refresh_seconds",
            "One refresh that reached the platform: lock, call, persist.",
            ["platform"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.served = Counter(
            "mooring_token_keeper_tokens_served_total",
            "Tokens handed out on demand, by platform and whether a refresh came first.",
            ["platform", "refreshed"],
            registry=registry,
        )
        self.no_expiry = Counter(
            "mooring_token_keeper_tokens_without_expiry_total",
            "Refresh answers without expires_in on a platform whose tokens expire (scheduled "
            "from the documented lifetime instead).",
            ["platform"],
            registry=registry,
        )
