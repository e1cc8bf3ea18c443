"""The process scaffolding every service shares: runtime, health, metrics, problem details."""
