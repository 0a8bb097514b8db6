"""The edges of the pipeline: where logs leave it (Elasticsearch) and, later, enter and notify."""
