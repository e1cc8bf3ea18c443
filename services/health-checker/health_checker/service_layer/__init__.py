"""Use cases of the health-checker over its unit of work."""
