import psycopg
import pytest

from mooring.db.migrate import KERNEL, downgrade, downgrade_all, drift, head, packages, upgrade
from mooring.settings import DatabaseSettings

pytestmark = pytest.mark.integration


def _tables(settings: DatabaseSettings) -> set[str]:
    with psycopg.connect(settings.libpq_url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows if not r[0].startswith("alembic_version")}


def test_upgrade_downgrade_upgrade_round_trips(scratch_database: DatabaseSettings) -> None:
    upgrade(scratch_database)
    created = _tables(scratch_database)
    assert {"accounts", "outbox", "inbox", "platform_apps", "job_runs"} <= created
    downgrade_all(scratch_database)
    assert _tables(scratch_database) == set()
    upgrade(scratch_database)
    assert _tables(scratch_database) == created


def test_the_kernel_migrates_alone_with_its_own_version_table(
    scratch_database: DatabaseSettings,
) -> None:
    upgrade(scratch_database, only=[KERNEL.name])
    assert _tables(scratch_database) == set(KERNEL.metadata.tables)
    with psycopg.connect(scratch_database.libpq_url) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
    assert version == head(KERNEL)
    downgrade(scratch_database, "base")
    assert _tables(scratch_database) == set()


def test_every_installed_package_keeps_its_own_version_table(
    scratch_database: DatabaseSettings,
) -> None:
    upgrade(scratch_database)
    found = packages()
    assert found[0] is KERNEL
    with psycopg.connect(scratch_database.libpq_url) as conn:
        for package in found:
            row = conn.execute(f"SELECT count(*) FROM {package.version_table}").fetchone()  # noqa: S608
            assert row == (1,), package.name


def test_a_database_from_the_single_history_days_is_adopted_without_losing_a_row(
    scratch_database: DatabaseSettings,
) -> None:
    """Before services kept their own histories, billing-gate's revisions sat in the kernel's."""
    upgrade(scratch_database)
    downgrade(scratch_database, "0004")  # the kernel as it was then
    with psycopg.connect(scratch_database.libpq_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('billing_workspaces')").fetchone() == (None,):
            return  # billing-gate not installed here: nothing to adopt
        conn.execute("DROP TABLE alembic_version_billing_gate")
        conn.execute("UPDATE alembic_version SET version_num = '0005'")
        conn.execute("INSERT INTO accounts (id, workspace_id, platform, platform_account_id, "
                     "credentials) VALUES (gen_random_uuid(), gen_random_uuid(), 'x', '1', 'c')")  # fmt: skip
    upgrade(scratch_database)
    with psycopg.connect(scratch_database.libpq_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (head(KERNEL),)
        assert conn.execute("SELECT version_num FROM alembic_version_billing_gate").fetchone() == (
            "0005",
        )
        assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (1,)


def test_the_migrations_build_exactly_the_kernel_tables_the_code_describes(
    scratch_database: DatabaseSettings,
) -> None:
    upgrade(scratch_database)
    diff = drift(scratch_database, KERNEL)
    assert diff == [], diff
