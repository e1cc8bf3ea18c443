"""Thin adapters from HTTP to the connector's use cases."""
