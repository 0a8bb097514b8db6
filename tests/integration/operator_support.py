"""What the operator's tests need: the real API server's clients, the CRD installed, the
operator as a child process (`logway run operator`, its webhook on a free port), and waits on
a resource's status."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from logway.core.settings import Endpoints
from logway.dev.kube import KubeApiServer
from logway.dev.servers import DevConfig
from tests.chart import render
from tests.integration.support import (
    PipelineProcess,
    accepts,
    free_port,
    metric,
    scrape,
    wait_for,
)
from topology.crd import API_VERSION, GROUP, KIND, PLURAL, VERSION

Body = dict[str, Any]


def kube() -> KubeApiServer:
    return KubeApiServer(DevConfig.from_env())


def admin_client() -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(config_file=str(kube().kubeconfig))
    return api


CHART_NAMESPACE = "logging"  # the release's namespace (the forwarder's too, see FORWARDER)
CHART_NAME = "logway-logway"  # what the chart names its objects for the release `logway`
OPERATOR_ACCOUNT = f"{CHART_NAME}-operator"


def chart_rbac(api: client.ApiClient, folder: Path) -> None:
    """The operator's ServiceAccount and every role and binding the shipped chart gives it, and
    the roles it gives teams, rendered by `helm template` (default values: webhook on, routes
    kept by the operator) and put on the API server as they are."""
    from kubernetes.dynamic import DynamicClient

    rendered = render(["--set", "forwarder.kafka.userSecret=fw"])
    Pipelines(api).namespace(CHART_NAMESPACE)
    dynamic = DynamicClient(api)
    kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    found = 0
    for obj in yaml.safe_load_all(rendered):
        wanted = ("-operator", "-forwarder-routes", "-pipeline-editor", "-pipeline-viewer")
        if not obj or obj["kind"] not in kinds or not obj["metadata"]["name"].endswith(wanted):
            continue
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        namespace = CHART_NAMESPACE if resource.namespaced else None
        resource.server_side_apply(
            body=obj,
            name=obj["metadata"]["name"],
            namespace=namespace,
            field_manager="logway-test",
            force_conflicts=True,
        )
        found += 1
    assert found >= 5, f"the chart rendered only {found} of the operator's RBAC objects"
    (folder / "chart.yaml").write_text(rendered)


def chart_kubeconfig(api: client.ApiClient, folder: Path) -> Path:
    """A kubeconfig that logs in as the chart's operator ServiceAccount, with a token from the
    TokenRequest API (as a pod's projected token is), never as the API server's admin."""
    chart_rbac(api, folder)
    request = {"spec": {"audiences": [], "expirationSeconds": 86_400}}
    token = (
        client.CoreV1Api(api)
        .create_namespaced_service_account_token(OPERATOR_ACCOUNT, CHART_NAMESPACE, request)
        .status.token
    )
    path = folder / "operator.kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters:\n- name: logway-dev\n  cluster:\n"
        f"    server: {kube().address}\n"
        f"    certificate-authority: {kube().ca_file}\n"
        f"users:\n- name: {OPERATOR_ACCOUNT}\n  user:\n"
        f"    token: {token}\n"
        "contexts:\n- name: operator\n"
        f"  context: {{cluster: logway-dev, user: {OPERATOR_ACCOUNT}}}\n"
        "current-context: operator\n"
    )
    path.chmod(0o600)
    return path


def operator(
    endpoints: Endpoints,
    folder: Path,
    *,
    retry_s: float = 2,
    workers: int = 4,
    metrics_port: int = 0,
    forwarder: tuple[str, str] | None = None,
    env: dict[str, str] | None = None,
    webhook_port: int = 0,
) -> PipelineProcess:
    """`logway run operator` (not started yet), logged in as the chart's ServiceAccount with
    exactly the chart's RBAC, with its webhook on `webhook_port` (0: a free
    one); keeping the routes of `forwarder` (namespace, name of its ConfigMap and DaemonSet)
    if given; `env` adds to its environment."""
    tls = kube().webhook_tls
    args = [
        "operator",
        "--kubeconfig",
        str(chart_kubeconfig(admin_client(), folder)),
        "--retry-s",
        str(retry_s),
        "--workers",
        str(workers),
        "--webhook-host",
        "127.0.0.1",
        "--webhook-port",
        str(webhook_port or free_port()),
        "--webhook-cert-file",
        str(tls / "operator.crt"),
        "--webhook-key-file",
        str(tls / "operator.key"),
        "--webhook-ca-file",
        str(tls / "ca.crt"),
    ]
    if forwarder is not None:
        namespace, name = forwarder
        args += ["--forwarder-namespace", namespace, "--forwarder-configmap", name]
        args += ["--forwarder-daemonset", name]
    return PipelineProcess(
        endpoints, args, folder / "operator.log", metrics_port=metrics_port, extra_env=env or {}
    )


def pipeline(name: str, spec: Body, annotations: dict[str, str] | None = None) -> Body:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": spec,
    }


def spec(name: str, **more: Any) -> Body:
    owners = {"team": f"team-{name}", "slack_channel": f"#{name}", "webhook_secret": "HOOK"}
    return {"owners": owners, "topics": {"partitions": 1, "retention_hours": 24}, **more}


class Pipelines:
    """LoggingPipelines through the API server, as a team's kubectl would send them."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def namespace(self, name: str, labels: dict[str, str] | None = None, **notes: str) -> None:
        body = {"metadata": {"name": name, "labels": labels or {}, "annotations": notes}}
        try:
            self.core.create_namespace(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.core.patch_namespace(name, body)

    def create(self, namespace: str, body: Body) -> Body:
        created: Body = self.api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body
        )
        return created

    def get(self, namespace: str, name: str) -> Body | None:
        try:
            found: Body = self.api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def patch(self, namespace: str, name: str, changes: Body) -> Body:
        patched: Body = self.api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, changes
        )
        return patched

    def create_once_consented(
        self, namespace: str, body: Body, alive: Callable[[], None], timeout: float = 30
    ) -> None:
        """Create `body`, trying again while the webhook refuses it (409) because the
        operator's watch of namespaces has not seen a consent just given."""

        def created() -> bool:
            try:
                self.create(namespace, body)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                return False
            return True

        wait_for("the consent to reach the webhook", created, bool, timeout, alive)

    def delete(self, namespace: str, name: str) -> None:
        self.api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def listed(self) -> list[Body]:
        found: Body = self.api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        return list(found["items"])

    def events(self, namespace: str, name: str) -> list[tuple[str, str]]:
        found = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}"
        )
        return [(e.reason, e.message) for e in found.items]

    def wait_condition(
        self,
        namespace: str,
        name: str,
        check: Callable[[Body], bool],
        what: str,
        *,
        timeout: float = 60,
        alive: Callable[[], None] | None = None,
    ) -> Body:
        found = wait_for(
            f"{namespace}/{name}: {what}",
            lambda: self.get(namespace, name),
            lambda body: body is not None and check(body),
            timeout,
            alive or (lambda: None),
        )
        assert found is not None
        return found


def condition(body: Body, kind: str) -> Body:
    for found in body.get("status", {}).get("conditions", []):
        if found["type"] == kind:
            return dict(found)
    return {}


def ready(body: Body) -> bool:
    """Ready, about the resource's current generation."""
    status = body.get("status", {})
    return (
        condition(body, "Ready").get("status") == "True"
        and status.get("observedGeneration") == body["metadata"]["generation"]
    )


def refused(reason: str) -> Callable[[Body], bool]:
    def check(body: Body) -> bool:
        now = condition(body, "Ready")
        return (
            now.get("status") == "False"
            and now.get("reason") == reason
            and body["status"].get("observedGeneration") == body["metadata"]["generation"]
        )

    return check


def timed(call: Callable[[], object]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


FORWARDER = (CHART_NAMESPACE, f"{CHART_NAME}-forwarder")  # as the chart names them


def forwarder_daemonset(api: client.ApiClient) -> None:
    """A DaemonSet for the forwarders' routes to roll (no pod runs here: no kubelet)."""
    namespace, name = FORWARDER
    Pipelines(api).namespace(namespace)
    labels = {  # the chart's selector: the chart's own dry run of it meets this one
        "app.kubernetes.io/name": "logway",
        "app.kubernetes.io/instance": "logway",
        "app.kubernetes.io/component": "forwarder",
    }
    body = {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "fluent-bit", "image": "fluent-bit:4.0.3"}]},
            },
        },
    }
    try:
        client.AppsV1Api(api).create_namespaced_daemon_set(namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise


def forwarder_state(api: client.ApiClient) -> tuple[str, str | None]:
    """The routes the forwarders have (the ConfigMap's config), and the DaemonSet template's
    routes hash."""
    namespace, name = FORWARDER
    try:
        config = client.CoreV1Api(api).read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        return "", None
    daemonset = client.AppsV1Api(api).read_namespaced_daemon_set(name, namespace)
    notes = daemonset.spec.template.metadata.annotations or {}
    return (config.data or {}).get("fluent-bit.conf", ""), notes.get("logway.dev/forwarder-config")


def wait_for_webhook(api: client.ApiClient, port: int, alive: Callable[[], None]) -> None:
    """Until the API server calls the operator's webhook on `port`: registered there by the
    operator, and listening. Before that, a resource is admitted unchecked (it fails open)."""

    def registered() -> bool:
        try:
            found = client.AdmissionregistrationV1Api(api).read_validating_webhook_configuration(
                GROUP
            )
        except ApiException:
            return False
        urls = [hook.client_config.url or "" for hook in found.webhooks or []]
        return any(f":{port}/" in url for url in urls) and accepts(port)

    wait_for(f"the operator's webhook on port {port}", registered, bool, 60, alive)


# The operator's ceiling on what a tenant may declare: above every other test's limits.
CEILINGS = {"LOGWAY_TENANT_MAX_RECORDS_PER_S": "900000"}


class Operator:
    """The one operator of the module (it is cluster-wide), which tests may kill and restart."""

    def __init__(self, endpoints: Endpoints, folder: Path) -> None:
        self.endpoints, self.folder = endpoints, folder
        self.process: PipelineProcess | None = None
        self.port = self.webhook = 0
        self.started = 0.0

    def start(self) -> Operator:
        self.port, self.webhook = free_port(), free_port()
        self.started = time.monotonic()
        self.process = operator(
            self.endpoints,
            self.folder,
            metrics_port=self.port,
            forwarder=FORWARDER,
            env=CEILINGS,
            webhook_port=self.webhook,
        ).start()
        wait_for_webhook(admin_client(), self.webhook, self.alive)
        return self

    def up_for(self) -> float:
        return time.monotonic() - self.started

    def reconciles(self, outcome: str) -> float:
        return metric(scrape(self.port), "logway_operator_reconciles_total", outcome=outcome)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None:
            self.process.stop(sig)
            self.process = None

    def alive(self) -> None:
        assert self.process is not None
        self.process.assert_running()


def remove_pipelines(prefix: str) -> None:
    """Remove the LoggingPipelines named, or in namespaces named, after `prefix`, without
    unpublishing (their finalizers cleared), so that an operator still running does not
    publish their tenants again after the test's objects are swept."""
    left = Pipelines(admin_client())
    removed = False
    for body in left.listed():
        meta = body["metadata"]
        if meta["name"].startswith(prefix) or meta["namespace"].startswith(prefix):
            left.patch(meta["namespace"], meta["name"], {"metadata": {"finalizers": None}})
            left.delete(meta["namespace"], meta["name"])
            removed = True
    if removed:
        time.sleep(2)  # a reconcile already under way publishes before the sweep, not after
