"""token-keeper's use cases: the sweep, the refresh of one account, a valid token on demand."""
