import psycopg
import pytest
from mooring.db.migrate import downgrade, upgrade
from mooring.settings import DatabaseSettings

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
