"""Alembic environment for one package's history (the kernel's or a service's).

`mooring.db.migrate` passes the package in the config's attributes: its version table, and the
tables it owns, which are all autogenerate compares. The other packages' tables are left out of
the comparison, so a service's autogenerate never proposes dropping the kernel's tables.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mooring.db.migrate import KERNEL, MigrationPackage

package: MigrationPackage = context.config.attributes.get("package", KERNEL)


def _own_tables(name: str | None, kind: str, _parent: Any) -> bool:
    return kind != "table" or name in package.metadata.tables


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=package.metadata,
        version_table=package.version_table,
        include_name=_own_tables,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(_main())
