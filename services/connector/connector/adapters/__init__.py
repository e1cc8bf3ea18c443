"""The connector's adapters: its tables and repository, the platforms, billing-gate."""
