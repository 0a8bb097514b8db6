"""logway: a managed, multi-tenant log pipeline on Kafka, Faust and Elasticsearch.

The command line (`logway.cli`) is a thin layer; the logic lives in `topology`, `streams` and
`connectors`, and the embedded servers for development and tests in `logway.dev`.
"""

__version__ = "0.1.0"
