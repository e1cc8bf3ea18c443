"""The notifier's rules, free of SQL, HTTP, SMTP and settings: what an incident is, when it is
the same one again, who is told, and what the message says."""
