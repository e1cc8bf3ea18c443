"""The pure core of the connector: connect sessions, redirects, candidates, limits; no I/O here."""
