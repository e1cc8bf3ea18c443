"""Prometheus metrics on a per-app registry (several apps can live in one test process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


@dataclass
class Metrics:
    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.messages = Counter(
            "mooring_messages_total",
            "Consumed Kafka messages by outcome "
            "(processed, duplicate, retry_later, dead_lettered).",
            ["service", "topic", "outcome"],
            registry=self.registry,
        )
        self.relayed = Counter(
            "mooring_outbox_relayed_total",
            "Outbox rows published to Kafka by this process.",
            ["service"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "mooring_ready", "1 when the last readiness check passed.", ["service"],
            registry=self.registry,
        )  # fmt: skip
        self.http = Histogram(
            "mooring_http_request_seconds",
            "HTTP request latency by route template and status.",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )

        self.job_runs = Counter(
            "mooring_job_runs_total",
            "Finished runs of scheduled jobs by status (succeeded, failed).",
            ["service", "job", "status"],
            registry=self.registry,
        )
        self.job_running = Gauge(
            "mooring_job_running", "1 while this process runs the job.", ["service", "job"],
            registry=self.registry,
        )  # fmt: skip
        self.job_last_failed = Gauge(
            "mooring_job_last_run_failed",
            "1 when this process's last run of the job failed.",
            ["service", "job"],
            registry=self.registry,
        )
        self.job_last_success = Gauge(
            "mooring_job_last_success_timestamp_seconds",
            "When this process last finished a run of the job successfully.",
            ["service", "job"],
            registry=self.registry,
        )

        self.consumer_lag = Gauge(
            "mooring_consumer_lag",
            "Records of a partition not yet committed by this service's group.",
            ["service", "topic", "partition"],
            registry=self.registry,
        )
        self.dlq_records = Gauge(
            "mooring_dlq_records",
            "Records in a dead-letter topic this service writes to that the replay has not "
            "passed yet (the end offset minus the replay group's committed offset, or minus the "
            "log start, summed over partitions); 0 for a dead-letter topic that does not exist.",
            ["service", "topic"],
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "mooring_outbox_backlog",
            "Outbox rows not yet published: waiting (to be relayed) or parked (refused).",
            ["service", "state"],
            registry=self.registry,
        )
        self.outbox_oldest = Gauge(
            "mooring_outbox_oldest_waiting_seconds",
            "Age of the oldest outbox row waiting to be published.",
            ["service"],
            registry=self.registry,
        )
        self.accounts = Gauge(
            "mooring_accounts",
            "Accounts by platform and status (exported by one service: the connector).",
            ["service", "platform", "status"],
            registry=self.registry,
        )

    def message_outcome(self, topic: str, outcome: str) -> None:
        self.messages.labels(self.service, topic, outcome).inc()
