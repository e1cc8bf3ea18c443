"""HTTP routes and Kafka handlers: thin, over the service layer."""
