"""The notifier's use cases over a unit of work."""
