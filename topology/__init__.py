"""Tenants: the model, loading YAML, and applying tenants to Kafka and Elasticsearch."""
