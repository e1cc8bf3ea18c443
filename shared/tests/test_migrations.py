from typing import TYPE_CHECKING

import psycopg
import pytest

from mooring.db.migrate import downgrade, upgrade
from mooring.settings import DatabaseSettings

if TYPE_CHECKING:
    from sqlalchemy import MetaData

pytestmark = pytest.mark.integration


def _tables(settings: DatabaseSettings) -> set[str]:
    with psycopg.connect(settings.libpq_url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows} - {"alembic_version"}


def test_upgrade_downgrade_upgrade_round_trips(scratch_database: DatabaseSettings) -> None:
    upgrade(scratch_database)
    created = _tables(scratch_database)
    assert {"accounts", "outbox", "inbox", "platform_apps", "job_runs"} <= created
    downgrade(scratch_database, "base")
    assert _tables(scratch_database) == set()
    upgrade(scratch_database)
    assert _tables(scratch_database) == created


def _drift(settings: DatabaseSettings, metadata: "MetaData") -> list[object]:
    """What Alembic would change to make the migrated database match `metadata`'s tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(settings.url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    # Other services' tables live on their own metadata.
                    "include_name": lambda name, kind, _: (
                        kind != "table" or name in metadata.tables
                    ),
                },
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_the_migrations_build_exactly_the_billing_gate_tables_the_code_describes(
    scratch_database: DatabaseSettings,
) -> None:
    from billing_gate.adapters.tables import metadata

    upgrade(scratch_database)
    diff = _drift(scratch_database, metadata)
    assert diff == [], diff


def test_the_migrations_build_exactly_the_kernel_tables_the_code_describes(
    scratch_database: DatabaseSettings,
) -> None:
    from mooring.db.tables import metadata

    upgrade(scratch_database)
    diff = _drift(scratch_database, metadata)
    assert diff == [], diff
