"""What the operator's tests need: the real API server's clients, the CRD installed, the
operator as a child process (`logway run operator`, its webhook on a free port), and waits on
a resource's status."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from logway.core.settings import Endpoints
from logway.dev.kube import KubeApiServer
from logway.dev.servers import DevConfig
from tests.integration.support import PipelineProcess, accepts, free_port, wait_for
from topology.crd import API_VERSION, GROUP, KIND, PLURAL, VERSION

Body = dict[str, Any]


def kube() -> KubeApiServer:
    return KubeApiServer(DevConfig.from_env())


def admin_client() -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(config_file=str(kube().kubeconfig))
    return api


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
    """`logway run operator` (not started yet), with its webhook on `webhook_port` (0: a free
    one); keeping the routes of `forwarder` (namespace, name of its ConfigMap and DaemonSet)
    if given; `env` adds to its environment."""
    tls = kube().webhook_tls
    args = [
        "operator",
        "--kubeconfig",
        str(kube().kubeconfig),
        "--credentials-dir",
        str(folder / "credentials"),
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


FORWARDER = ("logging", "logway-forwarder")


def forwarder_daemonset(api: client.ApiClient) -> None:
    """A DaemonSet for the forwarders' routes to roll (no pod runs here: no kubelet)."""
    namespace, name = FORWARDER
    Pipelines(api).namespace(namespace)
    labels = {"app": name}
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
