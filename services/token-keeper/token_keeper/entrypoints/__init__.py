"""token-keeper's HTTP routes and Kafka subscribers."""
