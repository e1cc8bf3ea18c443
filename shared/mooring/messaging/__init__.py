"""Messaging plumbing: CloudEvents codec, transactional outbox + relay, inbox, DLQ, topics."""
