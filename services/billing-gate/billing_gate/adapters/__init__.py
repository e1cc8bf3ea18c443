"""Billing-gate's adapters: its tables and the repository over them."""
