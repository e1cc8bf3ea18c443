"""Mooring health-checker service."""
