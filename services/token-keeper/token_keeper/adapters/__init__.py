"""What token-keeper talks to: the accounts table (read for the sweep), the platforms, metrics."""
