"""`make observability`: the Grafana dashboard and the Prometheus alert rules, from one table.

Writes deploy/observability/grafana-dashboard.json and deploy/observability/alerts.yaml. Every
expression names only metrics the services export (tests/test_observability.py checks them
against the metrics a running service and each service's metric classes declare, and fails on
drift from this script).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent

# Each panel: its title, the unit of its axis, and its queries with their legends.
PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Accounts by status", "short",
     [("sum by (status) (max by (platform, status) (mooring_accounts))", "{{status}}")]),
    ("Accounts by platform", "short",
     [("sum by (platform) (max by (platform, status) (mooring_accounts))", "{{platform}}")]),
    ("Refreshes per second, by outcome", "ops",
     [("sum by (outcome) (rate(mooring_token_keeper_refreshes_total[5m]))", "{{outcome}}")]),
    ("Refresh failures per hour, by class and platform", "short",
     [(("sum by (failure_class, platform) "
       "(increase(mooring_token_keeper_refresh_failures_total[1h]))"),
       "{{failure_class}} {{platform}}")]),
    ("Refresh latency p99 (lock, call, persist)", "s",
     [(("histogram_quantile(0.99, sum by (le, platform) "
       "(rate(mooring_token_keeper_refresh_seconds_bucket[5m])))"), "{{platform}}")]),
    ("Scheduled job runs per hour, by status", "short",
     [("sum by (job, status) (increase(mooring_job_runs_total[1h]))", "{{job}} {{status}}")]),
    ("Since each job last succeeded", "s",
     [("time() - max by (job) (mooring_job_last_success_timestamp_seconds)", "{{job}}")]),
    ("Accounts checked per second, by outcome", "ops",
     [("sum by (outcome) (rate(mooring_health_accounts_checked_total[5m]))", "{{outcome}}")]),
    ("Status changes found by checks (per day)", "short",
     [("sum by (kind, platform) (increase(mooring_health_transitions_total[1d]))",
       "{{kind}} {{platform}}")]),
    ("Rate-limit waits per second", "ops",
     [("sum by (platform) (rate(mooring_health_rate_limit_waits_total[5m]))", "{{platform}}")]),
    ("Stuck posts decided per hour", "short",
     [("sum by (decision) (increase(mooring_health_stuck_posts_total[1h]))", "{{decision}}")]),
    ("Dead-lettered records per hour, by topic", "short",
     [('sum by (topic) (increase(mooring_messages_total{outcome="dead_lettered"}[1h]))',
       "{{topic}}")]),
    ("DLQ depth", "short",
     [("max by (topic) (mooring_dlq_records)", "{{topic}}")]),
    ("Consumer lag, by service and topic", "short",
     [("sum by (service, topic) (mooring_consumer_lag)", "{{service}} {{topic}}")]),
    ("Outbox backlog", "short",
     [("max by (state) (mooring_outbox_backlog)", "{{state}}")]),
    ("Oldest event waiting in the outbox", "s",
     [("max(mooring_outbox_oldest_waiting_seconds)", "oldest")]),
    ("Events relayed per second", "ops",
     [("sum(rate(mooring_outbox_relayed_total[5m]))", "relayed")]),
    ("Consumed records per second, by outcome", "ops",
     [("sum by (outcome) (rate(mooring_messages_total[5m]))", "{{outcome}}")]),
    ("HTTP p99 by service and route", "s",
     [(("histogram_quantile(0.99, sum by (le, service, route) "
       "(rate(mooring_http_request_seconds_bucket[5m])))"), "{{service}} {{route}}")]),
    ("Ready replicas", "short", [("sum by (service) (mooring_ready)", "{{service}}")]),
    ("Connect steps per minute", "short",
     [("sum by (outcome) (increase(mooring_connector_connects_total[1m]))", "{{outcome}}")]),
    ("Notifications created per hour, by kind", "short",
     [("sum by (kind) (increase(mooring_notifier_notifications_total[1h]))", "{{kind}}")]),
    ("E-mail delivery outcomes per hour", "short",
     [("sum by (status) (increase(mooring_notifier_delivery_outcomes_total[1h]))",
       "{{status}}")]),
]  # fmt: skip

# What a panel's title cannot say (Grafana shows it on the panel's info icon).
DESCRIPTIONS: dict[str, str] = {
    "DLQ depth": (
        "Records in each dead-letter topic that no replay has passed yet (end offset minus the "
        "mooring-dlq-replay group's committed offset, summed over partitions). Rises as records "
        "are dead-lettered, falls as they are replayed or dismissed; docs/runbooks.md."
    ),
}

# Each alert: its name, its expression, how long it must hold, its severity, its summary.
ALERTS: list[tuple[str, str, str, str, str]] = [
    ("MooringNotReady", "min by (service) (mooring_ready) == 0", "5m", "page",
     "{{ $labels.service }} has a replica not ready for 5 minutes"),
    ("MooringOutboxBacklog", "max(mooring_outbox_oldest_waiting_seconds) > 300", "5m", "page",
     "events have waited over 5 minutes to be published"),
    ("MooringOutboxParked", 'max(mooring_outbox_backlog{state="parked"}) > 0', "0m", "ticket",
     "an outbox row Kafka keeps refusing was parked"),
    ("MooringConsumerLag", "sum by (service, topic) (mooring_consumer_lag) > 1000", "15m",
     "ticket", "{{ $labels.service }} is {{ $value }} records behind on {{ $labels.topic }}"),
    ("MooringDeadLetters",
     'sum by (topic) (increase(mooring_messages_total{outcome="dead_lettered"}[15m])) > 0',
     "0m", "ticket", "records of {{ $labels.topic }} were dead-lettered"),
    ("MooringDeadLettersWaiting", "max by (topic) (mooring_dlq_records) > 0", "1h", "ticket",
     "{{ $labels.topic }} has held dead letters for an hour ({{ $value }} not replayed)"),
    ("MooringJobFailed", "max by (job) (mooring_job_last_run_failed) == 1", "0m", "ticket",
     "the last run of {{ $labels.job }} failed"),
    ("MooringRefreshJobMissing",
     ("time() - max(mooring_job_last_success_timestamp_seconds"
     '{job="social:refresh-expiring-tokens"}) > 7200'), "10m", "page",
     "no refresh sweep succeeded for two hours"),
    ("MooringCheckJobMissing",
     ("time() - max(mooring_job_last_success_timestamp_seconds"
     '{job="social:check-connections"}) > 172800'), "30m", "ticket",
     "no connection check succeeded for two days"),
    ("MooringRefreshFailures",
     ("sum by (platform) (rate(mooring_token_keeper_refresh_failures_total[30m])) / "
     "sum by (platform) (rate(mooring_token_keeper_refreshes_total[30m])) > 0.2"), "30m",
     "ticket", "over 20% of refreshes on {{ $labels.platform }} fail"),
    ("MooringDisconnectSpike",
     ('sum by (platform) (increase(mooring_health_transitions_total{kind="expired"}[1h]))'
     " > 50"), "0m", "ticket", "{{ $value }} {{ $labels.platform }} accounts lost within an hour"),
    ("MooringUnreadableCredentials",
     ('sum(increase(mooring_token_keeper_accounts_due_total{kind="unreadable"}[2h])) > 0'),
     "0m", "page", "accounts whose sealed tokens do not open were skipped by the refresh sweep"),
    ("MooringMailFailing",
     'sum(increase(mooring_notifier_delivery_outcomes_total{status="failed"}[30m])) > 0',
     "0m", "ticket", "e-mails were rejected permanently"),
]  # fmt: skip


def dashboard() -> dict[str, Any]:
    if stray := set(DESCRIPTIONS) - {title for title, _, _ in PANELS}:
        raise ValueError(f"descriptions of no panel: {sorted(stray)}")  # a renamed panel
    panels = []
    for index, (title, unit, targets) in enumerate(PANELS):
        described = {"description": DESCRIPTIONS[title]} if title in DESCRIPTIONS else {}
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": title,
                **described,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)
                ],
            }
        )
    return {
        "title": "Mooring",
        "uid": "mooring-overview",
        "schemaVersion": 39,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "tags": ["mooring"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }


def alert_rules() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "mooring",
                "rules": [
                    {
                        "alert": name,
                        "expr": expr,
                        "for": duration,
                        "labels": {"severity": severity},
                        "annotations": {
                            "summary": summary,
                            "runbook": "docs/runbooks.md#what-an-alert-means",
                        },
                    }
                    for name, expr, duration, severity, summary in ALERTS
                ],
            }
        ]
    }


def expressions() -> list[str]:
    return [expr for _, _, targets in PANELS for expr, _ in targets] + [a[1] for a in ALERTS]


def render() -> dict[str, str]:
    return {
        "grafana-dashboard.json": json.dumps(dashboard(), indent=2) + "\n",
        "alerts.yaml": "# Generated by deploy/observability/generate.py (make observability).\n"
        + yaml.safe_dump(alert_rules(), sort_keys=False, width=100),
    }


def main() -> int:
    for name, text in render().items():
        (HERE / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
