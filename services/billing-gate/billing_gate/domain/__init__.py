"""The pure core of billing-gate: plans, limits and decisions; no I/O here."""
