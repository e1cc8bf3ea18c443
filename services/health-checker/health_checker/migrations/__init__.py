"""The health-checker's migrations, found by the kernel's migrate through the
`mooring.migrations` entry point and run after the kernel's, with a version table of their own."""

from __future__ import annotations

from pathlib import Path

from health_checker.adapters.tables import metadata
from mooring.db.migrate import MigrationPackage

__all__ = ["MIGRATIONS"]

MIGRATIONS = MigrationPackage(
    name="health-checker",
    versions=Path(__file__).resolve().parent / "versions",
    metadata=metadata,
)
