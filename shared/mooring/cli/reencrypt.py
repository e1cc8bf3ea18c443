"""Move every sealed secret to the vault's current key, so a retired key can be removed.

    python -m mooring.cli.reencrypt [--batch 200]

Restart every service with the new current key first: a replica still sealing with the old key
would undo the pass. The command counts what is left on old keys at the end and exits 1 if any.

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

from mooring.cli.progress import bar
from mooring.db.engine import create_engine
from mooring.db.tables import accounts, platform_apps
from mooring.settings import DatabaseSettings, VaultSettings
from mooring.vault import Vault, account_aad, platform_app_aad

__all__ = ["ReencryptReport", "reencrypt_all"]


@dataclass(frozen=True)
class ReencryptReport:
    accounts_total: int
    accounts_rotated: int
    apps_rotated: int
    left_on_old_keys: int  # counted after the pass: a replica still on the old key re-seals rows


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
                    sealed = vault.reencrypt(row.credentials, aad=account_aad(row.id))
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
            aad = platform_app_aad(app.platform, app.instance)
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
    return ReencryptReport(
        accounts_total=total,
        accounts_rotated=rotated,
        apps_rotated=apps,
        left_on_old_keys=await _left_on_old_keys(engine, vault),
    )


async def _left_on_old_keys(engine: AsyncEngine, vault: Vault) -> int:
    async with engine.connect() as conn:
        sealed = [
            *(await conn.execute(select(accounts.c.credentials))).scalars(),
            *(await conn.execute(select(platform_apps.c.client_secret_ciphertext))).scalars(),
        ]
    return sum(vault.needs_rotation(c) for c in sealed)


def _print_progress(done: int, total: int) -> None:
    print(f"\r{bar(done, total)} {done}/{total} accounts", end="", file=sys.stderr, flush=True)


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
    if report.left_on_old_keys:
        print(
            f"error: {report.left_on_old_keys} secret(s) are still on an old key: a service is "
            "probably still running with the previous MOORING_VAULT_CURRENT_KEY_ID. Restart "
            "every service on the new key, run this again, and only then retire the old key.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
