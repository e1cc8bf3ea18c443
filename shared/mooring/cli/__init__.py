"""Operator commands (`python -m mooring.cli.<name>`)."""
