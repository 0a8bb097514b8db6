"""The Helm chart against a real kube-apiserver: every object it renders, the CRD included,
accepted by server-side dry-run (beside helm lint and kubeconform in
tests/unit/deploy/test_helm.py), and its RBAC letting a team edit LoggingPipelines in its own
namespace only."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from logway.core.settings import Endpoints
from logway.dev.kube import install_crd
from tests.chart import render, values_args
from tests.integration.operator_support import (
    Pipelines,
    admin_client,
    pipeline,
    spec,
)
from topology.crd import GROUP, PLURAL, VERSION

pytestmark = pytest.mark.integration

# The Prometheus operator's kinds: no CRD for them on a bare API server.
NOT_INSTALLED = {"ServiceMonitor", "PrometheusRule"}


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("chart")
    manifest = render(values_args(folder), "--include-crds")
    # And without a rendered forwarder config: the operator keeps the routes (a Role more).
    by_operator = render(["--set", "forwarder.kafka.userSecret=fw"])
    found = {
        (doc["kind"], doc["metadata"]["name"]): doc
        for text in (by_operator, manifest)
        for doc in yaml.safe_load_all(text)
        if doc
    }
    return list(found.values())


@pytest.fixture(scope="module")
def api(endpoints: Endpoints) -> client.ApiClient:
    del endpoints  # the servers (and so the API server) are up
    return admin_client()


def test_every_object_of_the_chart_passes_a_server_side_dry_run(
    api: client.ApiClient, chart: list[dict[str, Any]]
) -> None:
    Pipelines(api).namespace("logging")
    dynamic = DynamicClient(api)
    accepted, refused, skipped = [], [], []
    for obj in chart:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in NOT_INSTALLED:
            skipped.append(kind)
            continue
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=kind)
        namespace = "logging" if resource.namespaced else None
        try:
            resource.server_side_apply(
                body=obj,
                name=name,
                namespace=namespace,
                field_manager="logway-chart-test",
                # The operator's tests made the forwarder's ConfigMap and DaemonSet by the
                # chart's names: a dry run takes their fields over, as an upgrade would.
                force_conflicts=True,
                dry_run="All",
            )
        except ApiException as exc:
            refused.append(f"{kind}/{name}: {exc.status} {exc.body}")
        else:
            accepted.append(kind)
    assert not refused, "\n".join(refused)
    assert sorted(skipped) == sorted(NOT_INSTALLED)
    for kind in ("CustomResourceDefinition", "DaemonSet", "Deployment", "Role", "Job"):
        assert kind in accepted


def test_a_team_edits_loggingpipelines_in_its_own_namespace_and_nowhere_else(
    api: client.ApiClient, chart: list[dict[str, Any]], tenant_prefix: str
) -> None:
    install_crd(api)
    admin = Pipelines(api)
    own, other = f"{tenant_prefix}-own", f"{tenant_prefix}-other"
    admin.namespace(own)
    admin.namespace(other)
    [editor] = [
        o
        for o in chart
        if o["kind"] == "ClusterRole" and o["metadata"]["name"].endswith("-pipeline-editor")
    ]
    rbac = client.RbacAuthorizationV1Api(api)
    try:
        rbac.create_cluster_role(editor)
    except ApiException as exc:
        if exc.status != 409:
            raise
    # In a cluster the role is aggregated into `edit`; no controller-manager runs here to do
    # the aggregation, so the team's RoleBinding names the role itself.
    team = f"{tenant_prefix}-team"
    rbac.create_namespaced_role_binding(
        own,
        {
            "metadata": {"name": "team-edits-pipelines"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": editor["metadata"]["name"],
            },
            "subjects": [{"kind": "User", "name": team, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )
    as_team = admin_client()
    as_team.set_default_header("Impersonate-User", team)
    teams = Pipelines(as_team)

    name = f"{tenant_prefix}-mine"
    created = teams.create(own, pipeline(name, spec(name)))
    assert created["metadata"]["namespace"] == own
    with pytest.raises(ApiException) as elsewhere:
        teams.create(other, pipeline(f"{tenant_prefix}-theirs", spec("x")))
    assert elsewhere.value.status == 403
    with pytest.raises(ApiException) as status:
        teams.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, own, PLURAL, name, {"status": {"liveVersion": "forged"}}
        )
    assert status.value.status == 403
    with pytest.raises(ApiException) as listing:
        teams.api.list_namespaced_custom_object(GROUP, VERSION, other, PLURAL)
    assert listing.value.status == 403
    admin.delete(own, name)
