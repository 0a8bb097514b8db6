"""The embedded default: real Kafka and Elasticsearch as local JVM processes, for dev and tests."""
