"""Mooring token-keeper service."""
