"""`make k8s`: write deploy/k8s/mooring.yaml, every Kubernetes object Mooring runs as.

One Deployment per service (probes on /health/live and /health/ready, requests and limits, a
non-root read-only container, every secret from a Secret), a Service for each HTTP API, a
PodDisruptionBudget each, an HPA on CPU for the services that consume Kafka, a Job that creates
the topics (replication and partitions from its arguments) and one that runs the migrations, the
ConfigMap every service reads, and the Secrets it expects with empty values (fill them from your
secret store; never commit them filled). A test validates the file against the Kubernetes
schemas offline and checks those properties; another fails while this script's output differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
TARGET = HERE / "mooring.yaml"
NAMESPACE = "mooring"
IMAGE = "ghcr.io/example/mooring-{service}:1.0.0"  # one image per service: deploy/Dockerfile

# service -> (HTTP port, env prefix, consumes Kafka, CPU request, memory limit)
SERVICES: dict[str, tuple[int, str, bool, str, str]] = {
    "connector": (8101, "CONNECTOR", False, "250m", "512Mi"),
    "token-keeper": (8102, "TOKEN_KEEPER", True, "250m", "512Mi"),
    "health-checker": (8103, "HEALTH_CHECKER", True, "250m", "512Mi"),
    "notifier": (8104, "NOTIFIER", True, "100m", "384Mi"),
    "billing-gate": (8105, "BILLING_GATE", True, "100m", "384Mi"),
}
CONTRACT_SOURCES = {
    "account.connected": ["mooring/connector"],
    "account.updated": ["mooring/connector", "mooring/token-keeper", "mooring/health-checker"],
    "account.disconnected": ["mooring/connector", "mooring/token-keeper", "mooring/health-checker"],
    "token.expiring": ["mooring/token-keeper"],
    "token.refreshed": ["mooring/token-keeper", "mooring/health-checker"],
    "post.stuck": ["mooring/health-checker"],
    "workspace.plan_changed": ["platform"],
    "workspace.owner_changed": ["platform"],
    "post.publishing": ["platform"],
    "post.published": ["platform"],
    "post.failed": ["platform"],
}
LABELS = {"app.kubernetes.io/part-of": "mooring"}


def meta(name: str, component: str | None = None) -> dict[str, Any]:
    labels = dict(LABELS) | ({"app.kubernetes.io/name": component} if component else {})
    return {"name": name, "namespace": NAMESPACE, "labels": labels}


def secret_env(name: str, secret: str, key: str | None = None) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key or name}}}


def common_env(service: str) -> list[dict[str, Any]]:
    return [
        secret_env("DATABASE_URL", "mooring-database"),
        secret_env("MOORING_VAULT_KEYS", "mooring-vault"),
        secret_env("MOORING_VAULT_CURRENT_KEY_ID", "mooring-vault"),
        secret_env("MOORING_GATEWAY_JWT_SECRET", "mooring-gateway"),
        secret_env("KAFKA_SASL_USERNAME", f"mooring-kafka-{service}", "username"),
        secret_env("KAFKA_SASL_PASSWORD", f"mooring-kafka-{service}", "password"),
        secret_env("KAFKA_RELAY_SASL_USERNAME", "mooring-kafka-relay", "username"),
        secret_env("KAFKA_RELAY_SASL_PASSWORD", "mooring-kafka-relay", "password"),
        secret_env(f"{SERVICES[service][1]}_SERVICE_TOKENS", "mooring-service-tokens", "tokens"),
    ]


def deployment(service: str) -> dict[str, Any]:
    port, prefix, _consumes, cpu, memory = SERVICES[service]
    env = [*common_env(service), {"name": f"{prefix}_HTTP_HOST", "value": "0.0.0.0"}]  # noqa: S104 - in a pod
    if service == "connector":
        env.append(secret_env("MOORING_BILLING_SERVICE_TOKEN", "mooring-service-tokens", "token"))
    if service == "notifier":
        env.append(secret_env("NOTIFIER_SMTP_PASSWORD", "mooring-smtp", "password"))
    probe = {"httpGet": {"port": "http"}, "periodSeconds": 10, "timeoutSeconds": 3}
    container = {
        "name": service,
        "image": IMAGE.format(service=service),
        "ports": [{"name": "http", "containerPort": port}],
        "envFrom": [
            {"configMapRef": {"name": "mooring-config"}},
            {"secretRef": {"name": "mooring-platform-clients"}},
        ],
        "env": env,
        "readinessProbe": probe | {"httpGet": {"path": "/health/ready", "port": "http"},
                                   "failureThreshold": 3},
        "livenessProbe": probe | {"httpGet": {"path": "/health/live", "port": "http"},
                                  "failureThreshold": 6, "initialDelaySeconds": 20},
        "resources": {
            "requests": {"cpu": cpu, "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": memory},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - a pod's scratch
    }  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(service, service),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": service}},
            "template": {
                "metadata": {"labels": {**LABELS, "app.kubernetes.io/name": service}},
                "spec": {
                    # SIGTERM drains consumers and the relay within shutdown_timeout_s (5 s).
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def service_objects(service: str) -> list[dict[str, Any]]:
    _port, _, consumes, _, _ = SERVICES[service]
    objects: list[dict[str, Any]] = [
        deployment(service),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(service, service),
            "spec": {
                "selector": {"app.kubernetes.io/name": service},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta(service, service),
            "spec": {
                "minAvailable": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": service}},
            },
        },
    ]
    if consumes:
        # More replicas than a topic has partitions sit idle: the maximum follows them.
        objects.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": meta(service, service),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": service},
                    "minReplicas": 2,
                    "maxReplicas": 6,
                    "metrics": [{"type": "Resource", "resource": {
                        "name": "cpu", "target": {"type": "Utilization",
                                                  "averageUtilization": 70}}}],
                },
            }
        )  # fmt: skip
    return objects


def job(name: str, args: list[str], env: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(name, name),
        "spec": {
            "backoffLimit": 4,
            "template": {
                "metadata": {"labels": {**LABELS, "app.kubernetes.io/name": name}},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [
                        {
                            "name": name,
                            "image": IMAGE.format(service="connector"),
                            "command": ["python", *args],
                            "envFrom": [{"configMapRef": {"name": "mooring-config"}}],
                            "env": env,
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                            },
                            "securityContext": {
                                "runAsNonRoot": True,
                                "runAsUser": 10001,
                                "allowPrivilegeEscalation": False,
                            },
                        }
                    ],
                },
            },
        },
    }


def secrets() -> list[dict[str, Any]]:
    """The Secrets the pods read, with empty values: the names and keys are the contract."""
    wanted: dict[str, list[str]] = {
        "mooring-database": ["DATABASE_URL"],
        "mooring-vault": ["MOORING_VAULT_KEYS", "MOORING_VAULT_CURRENT_KEY_ID"],
        "mooring-gateway": ["MOORING_GATEWAY_JWT_SECRET"],
        "mooring-service-tokens": ["tokens", "token"],
        "mooring-smtp": ["password"],
        "mooring-kafka-relay": ["username", "password"],
        "mooring-kafka-admin": ["username", "password"],
        "mooring-platform-clients": [
            f"MOORING_PLATFORM_{p}__CLIENT_SECRET"
            for p in (
                "LINKEDIN",
                "LINKEDIN_PAGE",
                "X",
                "FACEBOOK",
                "INSTAGRAM",
                "INSTAGRAM_FACEBOOK",
                "TIKTOK",
                "YOUTUBE",
                "THREADS",
                "PINTEREST",
            )
        ],
        **{f"mooring-kafka-{s}": ["username", "password"] for s in SERVICES},
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta(name),
            "type": "Opaque",
            "stringData": dict.fromkeys(keys, ""),
        }
        for name, keys in wanted.items()
    ]


def config() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta("mooring-config"),
        "data": {
            "KAFKA_BOOTSTRAP_SERVERS": "kafka-0.kafka:9093,kafka-1.kafka:9093,kafka-2.kafka:9093",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_CREATE_TOPICS": "false",
            # What the create-topics Job makes: partitions bound the useful consumer replicas;
            # three copies with two in sync survive one broker down without losing a write.
            "KAFKA_TOPIC_PARTITIONS": "6",
            "KAFKA_TOPIC_REPLICATION_FACTOR": "3",
            "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "2",
            "MOORING_CONSUMER_ALLOWED_SOURCES": json.dumps(CONTRACT_SOURCES, sort_keys=True),
            "MOORING_BILLING_BASE_URL": "http://billing-gate.mooring.svc",
            "MOORING_TRACING_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
        },
    }


def objects() -> list[dict[str, Any]]:
    admin = [
        secret_env("DATABASE_URL", "mooring-database"),
        secret_env("KAFKA_SASL_USERNAME", "mooring-kafka-admin", "username"),
        secret_env("KAFKA_SASL_PASSWORD", "mooring-kafka-admin", "password"),
    ]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE,
                                                              "labels": LABELS}},
        config(),
        *secrets(),
        job("create-topics", ["-m", "mooring.messaging.topics"], admin),  # counts: the ConfigMap
        job("migrate", ["-m", "mooring.db.migrate", "upgrade"], admin[:1]),
        *(o for service in SERVICES for o in service_objects(service)),
    ]  # fmt: skip


def render() -> str:
    header = "# Generated by deploy/k8s/generate.py (make k8s); edit the script, not this file.\n"
    return header + yaml.safe_dump_all(objects(), sort_keys=False, explicit_start=True)


def main() -> int:
    TARGET.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
