"""Thin adapters from Kafka and HTTP to billing-gate's use cases."""
