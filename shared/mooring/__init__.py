"""Mooring's shared kernel: event contract, database, outbox/inbox, vault, platform adapters."""
