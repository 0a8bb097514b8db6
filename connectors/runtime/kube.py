"""How a worker reaches the Kubernetes API server: a kubeconfig file, or in the cluster the
pod's own service account."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config


def api_client(kubeconfig: Path | None) -> client.ApiClient:
    if kubeconfig is not None:
        api: client.ApiClient = config.new_client_from_config(config_file=str(kubeconfig))
        return api
    config.load_incluster_config()
    return client.ApiClient()
