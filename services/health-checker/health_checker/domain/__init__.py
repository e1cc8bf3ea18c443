"""Pure rules of the health-checker: no SQL, no HTTP, no settings."""
