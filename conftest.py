"""Fixtures shared by every test tree: the real PostgreSQL and Kafka, resolved once per session.

A missing broker or database fails the tests that need them (an error, never a skip).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.db.engine import create_engine
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import (
    delete_scratch_topics,
    infra_settings,
    migrated_database,
    temporary_database,
)

# Tests that ask for any of these need the real PostgreSQL or Kafka: they are marked
# `integration` at collection, so `make test-unit` (-m "not integration ...") leaves them out.
_INFRA_FIXTURES = frozenset(
    {"infra", "database_settings", "kafka_settings", "engine", "scratch_database"}
)
# The failure tests stop and restart a broker and a database of their own: they run only when
# named (`make test-failures`), never as part of `make test`'s `pytest shared services sim tests`.
_FAILURE_TESTS = Path(__file__).resolve().parent / "tests" / "failures"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path != _FAILURE_TESTS:
        return None
    here = config.invocation_params.dir
    named = (Path(here, arg.split("::")[0]).resolve() for arg in config.args)
    return not any(path.is_relative_to(_FAILURE_TESTS) for path in named)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _INFRA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def infra() -> tuple[DatabaseSettings, KafkaSettings]:
    if os.environ.get("MOORING_TEST_TIER") == "unit":
        raise RuntimeError(
            "a unit-tier test asked for PostgreSQL or Kafka; mark it integration (or use the "
            "fakes: mooring.uow.FakeUnitOfWork)"
        )
    return infra_settings()


@pytest.fixture(scope="session")
def database_settings(
    infra: tuple[DatabaseSettings, KafkaSettings],
) -> Iterator[DatabaseSettings]:
    """A database of this test session's own, so a `make run` on the same server is untouched."""
    with migrated_database(infra[0], "mooring_test") as settings:
        yield settings


@pytest.fixture(scope="session")
async def kafka_settings(
    infra: tuple[DatabaseSettings, KafkaSettings],
) -> AsyncIterator[KafkaSettings]:
    """The broker; the scratch topics this session made are deleted after it."""
    yield infra[1]
    await delete_scratch_topics(infra[1].bootstrap_servers)


@pytest.fixture(scope="session")
async def engine(database_settings: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_settings, application_name="mooring-tests")
    yield engine
    await engine.dispose()


@pytest.fixture
def scratch_database(database_settings: DatabaseSettings) -> Iterator[DatabaseSettings]:
    """An empty database of its own, for tests that must see every row (dropped afterwards)."""
    with temporary_database(database_settings, "mooring_scratch") as settings:
        yield settings


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On CI a skipped test is a failure: skipping is how a missing broker would hide."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(f"CI: {skipped} test(s) were skipped; failing the run", red=True)
