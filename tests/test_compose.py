"""CI cannot run Docker, so the compose file is checked by reading it."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"connector", "token-keeper", "health-checker", "notifier", "billing-gate"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_and_its_infrastructure_is_there_with_a_healthcheck() -> None:
    services = compose()["services"]
    assert SERVICES | {"postgres", "kafka", "platform-sim"} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert service["healthcheck"]["test"], name


def test_services_wait_for_healthy_infrastructure_and_are_built_from_one_dockerfile() -> None:
    services = compose()["services"]
    for name in SERVICES:
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["build"]["args"]["SERVICE"] == name
        for dependency in ("postgres", "kafka"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy", name
        assert service["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert "/health/ready" in " ".join(service["healthcheck"]["test"])
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert (ROOT / "deploy" / "Dockerfile").exists()


def test_kafka_runs_kraft_without_auto_created_topics() -> None:
    env = compose()["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
