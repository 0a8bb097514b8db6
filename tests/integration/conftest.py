"""Fixtures of the operator's tests: the API server's admin client with the CRD installed,
and the one operator (cluster-wide) of a test module, run as the chart's ServiceAccount."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from logway.core.settings import Endpoints
from logway.dev.kube import install_crd
from tests.integration.operator_support import (
    Operator,
    Pipelines,
    admin_client,
    forwarder_daemonset,
    remove_pipelines,
)


@pytest.fixture(scope="module")
def api(endpoints: Endpoints) -> client.ApiClient:
    del endpoints  # the servers (and so the API server) are up
    found = admin_client()
    install_crd(found)
    return found


@pytest.fixture(scope="module")
def pipelines(api: client.ApiClient) -> Pipelines:
    return Pipelines(api)


@pytest.fixture(scope="module")
def running(
    endpoints: Endpoints, api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    forwarder_daemonset(api)
    found = Operator(endpoints, tmp_path_factory.mktemp("operator")).start()
    yield found
    found.stop()
    # What the tests left would be resumed by every later operator: gone, without unpublishing
    # (the finalizer's work is pinned by its own test).
    remove_pipelines("")


@pytest.fixture
def ns(pipelines: Pipelines, tenant_prefix: str) -> str:
    pipelines.namespace(f"{tenant_prefix}-a")
    return f"{tenant_prefix}-a"
