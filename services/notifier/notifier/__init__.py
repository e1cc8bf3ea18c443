"""Mooring notifier service."""
