"""Run the Alembic migrations: `python -m mooring.db.migrate upgrade [rev]` / `downgrade <rev>`.

Configured in code so no alembic.ini has to sit in a working directory; a PostgreSQL advisory lock
makes concurrent starts of several replicas migrate once.
"""

from __future__ import annotations

import argparse
import sys
from importlib.resources import files

import psycopg
from alembic import command
from alembic.config import Config

from mooring.settings import DatabaseSettings

__all__ = ["downgrade", "upgrade"]

_MIGRATION_LOCK = 0x6D6F6F72  # "moor"


def _config(settings: DatabaseSettings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("mooring") / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.url.replace("%", "%%"))
    return config


def upgrade(settings: DatabaseSettings, revision: str = "head") -> None:
    with psycopg.connect(settings.libpq_url, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        command.upgrade(_config(settings), revision)


def downgrade(settings: DatabaseSettings, revision: str) -> None:
    with psycopg.connect(settings.libpq_url, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        command.downgrade(_config(settings), revision)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mooring.db.migrate")
    parser.add_argument("action", choices=["upgrade", "downgrade"])
    parser.add_argument("revision", nargs="?", default="head")
    args = parser.parse_args(argv)
    settings = DatabaseSettings()
    if args.action == "upgrade":
        upgrade(settings, args.revision)
    else:
        downgrade(settings, args.revision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
