"""The core every other part of logway stands on: the contracts and the connections.

Names, limits, origin and event id, the dead-letter envelope, the document's `logway` block,
the `_logway.tenants` record, Kafka's and Elasticsearch's connection settings and the client
presets, the metrics registry. Nothing here imports from `streams`, `topology`, `connectors` or
the command line (`make lint` checks it with import-linter, see `.importlinter`).
"""
