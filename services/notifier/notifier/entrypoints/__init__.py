"""Thin adapters from Kafka and HTTP to the notifier's use cases."""
