"""The Elasticsearch sink: processed topics in, daily tenant indices out."""
