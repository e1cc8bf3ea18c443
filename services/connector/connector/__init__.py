"""Mooring connector service."""
