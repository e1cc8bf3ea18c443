"""Run the Alembic migrations of the kernel and of every installed service.

    python -m mooring.db.migrate upgrade                  # everything, the kernel first
    python -m mooring.db.migrate downgrade <package> <rev>
    python -m mooring.db.migrate revision <package> -m "..." [--autogenerate]
    python -m mooring.db.migrate status

Each package (the kernel, each service) keeps its revisions in its own folder and its own version
table, and is found through the `mooring.migrations` entry point, so the kernel imports no service.
A service image that installs only its own package migrates only the kernel and itself; with one
shared history it would fail on the other services' revisions it cannot see. Configured in code
(no alembic.ini); a PostgreSQL advisory lock makes replicas starting together migrate once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import MetaData, create_engine

from mooring.db.tables import metadata as kernel_metadata
from mooring.settings import DatabaseSettings

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "KERNEL",
    "MigrationPackage",
    "downgrade",
    "downgrade_all",
    "drift",
    "head",
    "packages",
    "upgrade",
]

_MIGRATION_LOCK = 0x6D6F6F72  # "moor"
_ENTRY_POINTS = "mooring.migrations"


@dataclass(frozen=True)
class MigrationPackage:
    """One package's migrations: where its revisions live and the tables they build."""

    name: str
    versions: Path
    metadata: MetaData

    @property
    def version_table(self) -> str:
        if self.name == KERNEL.name:
            return "alembic_version"
        return "alembic_version_" + self.name.replace("-", "_")


KERNEL = MigrationPackage(
    name="mooring",
    versions=Path(str(files("mooring") / "migrations" / "versions")),
    metadata=kernel_metadata,
)


def packages() -> list[MigrationPackage]:
    """The kernel, then every installed service's migrations in name order."""
    found = [ep.load() for ep in entry_points(group=_ENTRY_POINTS)]
    for package in found:
        if not isinstance(package, MigrationPackage):
            raise TypeError(f"entry point {_ENTRY_POINTS} gave {package!r}, not a MigrationPackage")
    return [KERNEL, *sorted(found, key=lambda p: p.name)]


def head(package: MigrationPackage) -> str:
    """The newest revision in `package`'s history."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - alembic loads only to migrate

    script = ScriptDirectory.from_config(_config(DatabaseSettings(), package))
    current = script.get_current_head()
    if current is None:
        raise ValueError(f"{package.name} has no revisions")
    return current


def _find(name: str) -> MigrationPackage:
    for package in packages():
        if package.name == name:
            return package
    known = ", ".join(p.name for p in packages())
    raise SystemExit(f"no migrations named {name!r}; installed: {known}")


def _config(settings: DatabaseSettings, package: MigrationPackage) -> Config:
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(files("mooring") / "migrations"))
    config.set_main_option("version_locations", str(package.versions))
    config.set_main_option("sqlalchemy.url", settings.url.replace("%", "%%"))
    config.attributes["package"] = package
    return config


class _Locked:
    """The migration lock, held on a connection of its own for the whole run."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self._settings = settings

    def __enter__(self) -> psycopg.Connection:
        self._conn = psycopg.connect(self._settings.libpq_url, autocommit=True)
        self._conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        return self._conn

    def __exit__(self, *exc: object) -> None:
        self._conn.close()  # ends the session, and the session lock with it


def upgrade(settings: DatabaseSettings, only: Sequence[str] = ()) -> None:
    """Every package (or those named in `only`) to its head, the kernel first."""
    from alembic import command  # noqa: PLC0415

    with _Locked(settings) as conn:
        _adopt_single_history(conn)
        for package in packages():
            if not only or package.name in only:
                command.upgrade(_config(settings, package), "head")


def downgrade(settings: DatabaseSettings, revision: str, package: str = KERNEL.name) -> None:
    """One package down to `revision` ("base": all of it). Services before the kernel."""
    from alembic import command  # noqa: PLC0415

    with _Locked(settings):
        command.downgrade(_config(settings, _find(package)), revision)


def downgrade_all(settings: DatabaseSettings) -> None:
    from alembic import command  # noqa: PLC0415

    with _Locked(settings):
        for package in reversed(packages()):
            command.downgrade(_config(settings, package), "base")


def drift(settings: DatabaseSettings, package: MigrationPackage) -> list[Any]:
    """What autogenerate would change to make the migrated tables match `package`'s metadata:
    empty when its migrations build exactly the tables its code describes."""
    from alembic.autogenerate import compare_metadata  # noqa: PLC0415
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    engine = create_engine(settings.url)  # psycopg 3 serves sync engines too
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _: (
                        kind != "table" or name in package.metadata.tables
                    ),
                },
            )
            return list(compare_metadata(context, package.metadata))
    finally:
        engine.dispose()


# Before services kept their own histories, billing-gate's revisions 0003 and 0005 sat in the
# kernel's one line (0001, 0002, 0003, 0004, 0005). A database migrated then is moved over once.
_SINGLE_HISTORY = {
    "0003": ("0002", "0003"),
    "0004": ("0004", "0003"),
    "0005": ("0004", "0005"),
}


def _adopt_single_history(conn: psycopg.Connection) -> None:
    exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    billing = conn.execute(
        "SELECT to_regclass('alembic_version_billing_gate') IS NULL "
        "AND to_regclass('billing_workspaces') IS NOT NULL"
    ).fetchone()
    if row is None or row[0] not in _SINGLE_HISTORY or not billing or not billing[0]:
        return
    kernel, billing_gate = _SINGLE_HISTORY[row[0]]
    with conn.transaction():
        conn.execute("UPDATE alembic_version SET version_num = %s", (kernel,))
        conn.execute(
            "CREATE TABLE alembic_version_billing_gate (version_num varchar(32) NOT NULL "
            "CONSTRAINT alembic_version_billing_gate_pkc PRIMARY KEY)"
        )
        conn.execute("INSERT INTO alembic_version_billing_gate VALUES (%s)", (billing_gate,))


def _status(settings: DatabaseSettings) -> Iterator[str]:
    with psycopg.connect(settings.libpq_url) as conn:
        for package in packages():
            table = package.version_table
            present = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
            versions = (
                [r[0] for r in conn.execute(f"SELECT version_num FROM {table}")]  # noqa: S608 - our name
                if present and present[0]
                else []
            )
            yield f"{package.name}: {', '.join(versions) or 'not migrated'} ({package.versions})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mooring.db.migrate")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("upgrade", help="every installed package to its head")
    down = sub.add_parser("downgrade", help="one package down to a revision")
    down.add_argument("package")
    down.add_argument("revision")
    rev = sub.add_parser("revision", help="a new revision in one package's history")
    rev.add_argument("package")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--autogenerate", action="store_true")
    sub.add_parser("status", help="where each package's history stands")
    args = parser.parse_args(argv)
    settings = DatabaseSettings()
    if args.action == "upgrade":
        upgrade(settings)
    elif args.action == "downgrade":
        downgrade(settings, args.revision, args.package)
    elif args.action == "revision":
        from alembic import command  # noqa: PLC0415

        package = _find(args.package)
        command.revision(
            _config(settings, package),
            message=args.message,
            autogenerate=args.autogenerate,
            version_path=str(package.versions),
        )
    else:
        for line in _status(settings):
            print(line)  # noqa: T201 - a command-line report
    return 0


if __name__ == "__main__":
    # Run the module under its own name: as __main__ its MigrationPackage would be a second
    # class, unlike the one the services' entry points build theirs from.
    from mooring.db import migrate  # noqa: PLW0406 - on purpose, see above

    sys.exit(migrate.main())
