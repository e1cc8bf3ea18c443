"""Billing-gate's use cases: each one transaction over the repository, wired by `main`."""
