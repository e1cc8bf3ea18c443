"""Every service's HTTP API, fuzzed from its committed OpenAPI document while the whole system
runs: no 5xx, and no answer its document does not describe (status, content type, body)."""

import asyncio
import uuid
from pathlib import Path

import pytest

from mooring.settings import DatabaseSettings, KafkaSettings

from .fuzz import fuzz
from .system import SERVICES, running_system

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.connected]


@pytest.mark.timeout(900)
async def test_no_service_answers_outside_its_committed_openapi_document(
    database_settings: DatabaseSettings, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    async with running_system(database_settings, kafka_settings, tmp_path, label="fuzz") as system:
        workspace = uuid.uuid4()
        failures = []
        for package in SERVICES:
            runs = await asyncio.to_thread(
                fuzz,
                package.replace("_", "-"),
                system.urls[package],
                workspace=str(workspace),
                gateway_token=system.gateway_token(workspace),
                service_token=system.service_token,
            )
            failures += [run for run in runs if not run.passed]
    assert not failures, "\n\n".join(f"=== {run.label}\n{run.output[-6000:]}" for run in failures)
