import psycopg
import pytest

from health_checker.migrations import MIGRATIONS
from mooring.db.migrate import downgrade, drift, upgrade
from mooring.settings import DatabaseSettings

pytestmark = pytest.mark.integration


def test_the_migrations_build_exactly_the_health_checker_tables_the_code_describes(
    scratch_database: DatabaseSettings,
) -> None:
    upgrade(scratch_database)
    diff = drift(scratch_database, MIGRATIONS)
    assert diff == [], diff


def test_health_checker_migrates_down_and_up_on_its_own(
    scratch_database: DatabaseSettings,
) -> None:
    upgrade(scratch_database)
    downgrade(scratch_database, "base", package=MIGRATIONS.name)
    with psycopg.connect(scratch_database.libpq_url) as conn:
        left = conn.execute("SELECT to_regclass('hc_check_runs')").fetchone()
        kernel = conn.execute("SELECT to_regclass('accounts')").fetchone()
    assert left == (None,)
    assert kernel is not None
    assert kernel[0] is not None  # the kernel's tables are not health-checker's to drop
    upgrade(scratch_database)
    assert drift(scratch_database, MIGRATIONS) == []
