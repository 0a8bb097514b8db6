"""Tenant pipelines: the steps and conditions that turn each tenant's raw records into documents,
drops or dead letters. Pure: no Kafka and no Faust here (`connectors/processor` runs them)."""
