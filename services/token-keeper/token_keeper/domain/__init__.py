"""token-keeper's rules: when a token is due, and what a failed refresh does to an account."""
