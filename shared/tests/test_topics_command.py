"""`python -m mooring.messaging.topics` takes its counts from settings (what the Kubernetes Job
passes through its ConfigMap), and a flag still overrides them for a one-off run."""

from __future__ import annotations

from typing import Any

import pytest

from mooring.messaging import topics


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    async def record(bootstrap: str, names: list[str], **options: Any) -> None:
        calls.append({"bootstrap": bootstrap, "names": names, **options})

    monkeypatch.setattr(topics, "ensure_topics", record)
    for name in ("PARTITIONS", "REPLICATION_FACTOR", "MIN_INSYNC_REPLICAS", "PREFIX"):
        monkeypatch.delenv(f"KAFKA_TOPIC_{name}", raising=False)
    return calls


def test_counts_come_from_the_environment(
    created: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "6")
    monkeypatch.setenv("KAFKA_TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "2")
    assert topics.main([]) == 0
    (call,) = created
    assert (call["partitions"], call["replication_factor"]) == (6, 3)
    assert call["configs"] == {"min.insync.replicas": "2"}
    assert "account.connected" in call["names"]


def test_a_flag_overrides_the_setting(
    created: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_REPLICATION_FACTOR", "3")
    assert topics.main(["--replication-factor", "1", "--partitions", "2"]) == 0
    (call,) = created
    assert (call["partitions"], call["replication_factor"]) == (2, 1)


def test_without_settings_one_copy_and_the_brokers_own_min_insync(
    created: list[dict[str, Any]],
) -> None:
    assert topics.main([]) == 0
    (call,) = created
    assert call["replication_factor"] == 1
    assert call["configs"] == {}
