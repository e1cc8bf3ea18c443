"""Mooring billing-gate service."""
