"""The database layer: one engine per process, tables on one metadata, Alembic migrations."""
