"""The connector's use cases: connect flows, the selection step, Bluesky, the account registry."""
