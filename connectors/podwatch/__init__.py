"""The pod watcher: one watch of the API server, pods published to `_logway.pods`."""
