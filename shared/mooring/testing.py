"""Helpers for tests of Mooring and of services built on it (no pytest dependency here)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from mooring.settings import DatabaseSettings, KafkaSettings, VaultSettings
from mooring.vault import Vault

__all__ = [
    "InfraUnavailableError",
    "infra_settings",
    "make_vault",
    "migrated_database",
    "random_vault_settings",
    "unique",
]


class InfraUnavailableError(RuntimeError):
    """Kafka or PostgreSQL is not there: a test run must fail, never skip, when this happens."""


def _infra_env() -> dict[str, str]:
    """Services named by the environment first, then what the local launcher wrote."""
    env = {k: v for k, v in os.environ.items() if k in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}}
    launcher_env = Path(__file__).resolve().parents[2] / ".run" / "infra.env"
    if launcher_env.exists():
        for line in launcher_env.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key not in env:
                env[key] = value
    return env


def infra_settings() -> tuple[DatabaseSettings, KafkaSettings]:
    env = _infra_env()
    missing = [k for k in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS") if k not in env]
    if missing:
        raise InfraUnavailableError(
            f"{', '.join(missing)} not set and no .run/infra.env: run `make infra` "
            "(or `python deploy/local/stack.py start`) first"
        )
    database = DatabaseSettings(url=env["DATABASE_URL"])
    try:
        with psycopg.connect(database.libpq_url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        raise InfraUnavailableError(f"PostgreSQL at DATABASE_URL is unreachable: {exc}") from exc
    return database, KafkaSettings(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])


@contextlib.contextmanager
def temporary_database(server: DatabaseSettings, prefix: str) -> Iterator[DatabaseSettings]:
    """A fresh, empty database on `server`, dropped (connections and all) on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.libpq_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.url.rpartition("/")
    try:
        yield server.model_copy(update={"url": f"{base}/{name}"})
    finally:
        with psycopg.connect(server.libpq_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextlib.contextmanager
def migrated_database(server: DatabaseSettings, prefix: str) -> Iterator[DatabaseSettings]:
    """A fresh database on `server` with every package's migrations applied, dropped on exit:
    for tests whose jobs or relay would otherwise meet other tests' rows."""
    from mooring.db.migrate import upgrade  # noqa: PLC0415 - Alembic only where it is needed

    with temporary_database(server, prefix) as settings:
        upgrade(settings)
        yield settings


def random_vault_settings(*key_ids: str) -> VaultSettings:
    ids = key_ids or ("k1",)
    keys = ",".join(f"{k}:{base64.b64encode(os.urandom(32)).decode()}" for k in ids)
    return VaultSettings(keys=keys, current_key_id=ids[0])


def make_vault() -> Vault:
    return Vault.from_settings(random_vault_settings())


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# Every topic a test or benchmark creates starts with this, so a session can delete its topics:
# a long-lived development broker otherwise collects partitions until it runs out of files.
SCRATCH_TOPIC_PREFIX = "scratch-"


_ISSUED_PREFIXES: set[str] = set()  # this process's, so a concurrent run keeps its topics


def scratch_topic_prefix(label: str) -> str:
    """A fresh topic prefix (`KafkaSettings.topic_prefix`) for one test or benchmark run."""
    prefix = f"{SCRATCH_TOPIC_PREFIX}{label}-{uuid.uuid4().hex[:10]}."
    _ISSUED_PREFIXES.add(prefix)
    return prefix


async def delete_scratch_topics(bootstrap_servers: str) -> int:
    """Delete the topics under every prefix this process issued; how many were deleted."""
    if not _ISSUED_PREFIXES:
        return 0
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(tuple(_ISSUED_PREFIXES))]
        for start in range(0, len(doomed), 100):
            await admin.delete_topics(doomed[start : start + 100])
        _ISSUED_PREFIXES.clear()
        return len(doomed)
    finally:
        await admin.close()


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    timeout_s: float = 20.0,
    settle_s: float = 1.0,
    options: dict[str, Any] | None = None,
) -> list[Any]:
    """Every record of `topic` from the beginning, once `until` holds and `settle_s` passed quiet.

    The settle time is what lets a test see a duplicate that would arrive after the first copy.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **(options or {}),
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        satisfied_at: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for items in batch.values():
                records.extend(items)
            if until(records):
                satisfied_at = satisfied_at or time.monotonic()
                if time.monotonic() - satisfied_at >= settle_s:
                    return records
            await asyncio.sleep(0)
        return records
    finally:
        await consumer.stop()


def header(record: Any, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return bytes(value).decode()
    return None
