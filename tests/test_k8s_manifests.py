"""The Kubernetes manifests, checked offline: valid against the API's schemas, and what an
operator relies on (probes, resources, budgets, autoscaling, no secret written inline)."""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "deploy" / "k8s" / "mooring.yaml"
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "KEY", "DATABASE_URL")


def generator() -> Any:
    return load_script("deploy/k8s/generate.py", "k8s_gen")


def objects() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFESTS.read_text()) if d]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects() if o["kind"] == kind}


def test_the_committed_manifests_are_what_the_generator_writes() -> None:
    assert MANIFESTS.read_text() == generator().render(), "run `make k8s` and commit"


@pytest.mark.parametrize("version", ["1.31.0", "1.33.0"])
def test_every_object_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    for manifest in objects():
        kubernetes_validate.validate(manifest, version, strict=True)


def test_every_service_has_probes_resources_a_budget_and_no_inline_secret() -> None:
    deployments = of_kind("Deployment")
    assert set(deployments) == {
        "connector", "token-keeper", "health-checker", "notifier", "billing-gate",
    }  # fmt: skip
    budgets = of_kind("PodDisruptionBudget")
    prefixes = {name: spec[1] + "_" for name, spec in generator().SERVICES.items()}
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live", name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
        assert container["securityContext"]["runAsNonRoot"] is True
        for variable in container["env"]:
            bare = variable["name"].removeprefix(prefixes[name])  # TOKEN_KEEPER_ is a name
            if any(word in bare for word in SECRET_WORDS):
                assert "value" not in variable, (name, variable["name"])
                assert "secretKeyRef" in variable["valueFrom"], (name, variable["name"])
        assert name in budgets, name


def test_consumers_autoscale_on_cpu_and_jobs_create_topics_and_migrate() -> None:
    autoscalers = of_kind("HorizontalPodAutoscaler")
    assert set(autoscalers) == {"token-keeper", "health-checker", "notifier", "billing-gate"}
    for hpa in autoscalers.values():
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    jobs = of_kind("Job")
    topics = jobs["create-topics"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert topics == ["python", "-m", "mooring.messaging.topics"]  # the counts come from settings
    settings = of_kind("ConfigMap")["mooring-config"]["data"]
    assert settings["KAFKA_TOPIC_REPLICATION_FACTOR"] == "3"
    assert settings["KAFKA_TOPIC_MIN_INSYNC_REPLICAS"] == "2"
    assert int(settings["KAFKA_TOPIC_PARTITIONS"]) >= 3
    env_from = jobs["create-topics"]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"configMapRef": {"name": "mooring-config"}} in env_from
    migrate = jobs["migrate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert migrate == ["python", "-m", "mooring.db.migrate", "upgrade"]


def test_the_secrets_are_declared_but_never_filled_in_the_repository() -> None:
    for secret in of_kind("Secret").values():
        assert set(secret["stringData"].values()) == {""}, secret["metadata"]["name"]
