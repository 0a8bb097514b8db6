"""The Elasticsearch sink: processed topics in, each tenant route's generation of indices out."""
