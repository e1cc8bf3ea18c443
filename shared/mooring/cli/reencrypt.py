"""Move every sealed secret to the vault's current key, so a retired key can be removed.

    python -m mooring.cli.reencrypt [--batch 200]

Rows are taken in id order, a batch at a time, each under `FOR UPDATE` so a concurrent writer
waits instead of racing; only the ciphertext changes (the version is left alone, because the
plaintext is the same and a writer holding the previous version may still save). Safe to re-run:
rows already on the current key are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.db.engine import create_engine
from mooring.db.tables import accounts, platform_apps
from mooring.settings import DatabaseSettings, VaultSettings
from mooring.vault import Vault

__all__ = ["ReencryptReport", "reencrypt_all"]


@dataclass(frozen=True)
class ReencryptReport:
    accounts_total: int
    accounts_rotated: int
    apps_rotated: int


async def reencrypt_all(
    engine: AsyncEngine,
    vault: Vault,
    *,
    batch: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> ReencryptReport:
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(accounts))).scalar_one()
    rotated, seen, after = 0, 0, uuid.UUID(int=0)
    while True:
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(accounts.c.id, accounts.c.credentials)
                    .where(accounts.c.id > after)
                    .order_by(accounts.c.id)
                    .limit(batch)
                    .with_for_update()
                )
            ).all()
            for row in rows:
                if vault.needs_rotation(row.credentials):
                    sealed = vault.reencrypt(row.credentials, aad=f"account:{row.id}")
                    await conn.execute(
                        update(accounts).where(accounts.c.id == row.id).values(credentials=sealed)
                    )
                    rotated += 1
        if not rows:
            break
        seen += len(rows)
        after = rows[-1].id
        if progress is not None:
            progress(seen, total)
    apps = 0
    async with engine.begin() as conn:
        for app in (await conn.execute(select(platform_apps).with_for_update())).all():
            aad = f"platform_app:{app.platform}:{app.instance}"
            if vault.needs_rotation(app.client_secret_ciphertext):
                await conn.execute(
                    update(platform_apps)
                    .where(
                        platform_apps.c.platform == app.platform,
                        platform_apps.c.instance == app.instance,
                    )
                    .values(
                        client_secret_ciphertext=vault.reencrypt(
                            app.client_secret_ciphertext, aad=aad
                        )
                    )
                )
                apps += 1
    return ReencryptReport(accounts_total=total, accounts_rotated=rotated, apps_rotated=apps)


def _print_progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total if total else width
    bar = "#" * filled + "." * (width - filled)
    print(f"\r[{bar}] {done}/{total} accounts", end="", file=sys.stderr, flush=True)


async def _main(batch: int) -> ReencryptReport:
    engine = create_engine(DatabaseSettings(), application_name="mooring-reencrypt")
    try:
        return await reencrypt_all(
            engine, Vault.from_settings(VaultSettings()), batch=batch, progress=_print_progress
        )
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mooring.cli.reencrypt")
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args(argv)
    report = asyncio.run(_main(args.batch))
    print(file=sys.stderr)
    print(
        f"{report.accounts_rotated} of {report.accounts_total} account(s) and "
        f"{report.apps_rotated} platform app secret(s) moved to the current key"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
