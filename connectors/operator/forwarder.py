"""The node forwarders' routing, kept by the operator: when teams declare tenants as
resources, the routes (namespace -> the tenant's raw topic) change without a Helm upgrade.

After each applied or removed tenant (and at start), the agent's configuration (Fluent Bit's,
or the OpenTelemetry Collector's, as the chart's `forwarder.agent` says) is rendered
from every published tenant (resources and files alike) with `logway render forwarder`'s own
code; when it differs from what the ConfigMap holds, the ConfigMap is replaced and the
DaemonSet's pod template is annotated with the configuration's hash, so Kubernetes rolls the
forwarders onto it. A namespace no tenant claims goes to `_logway.unclaimed` meanwhile:
nothing is lost while a route is rolled out.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from topology.agents import CONFIG_FILE, Agent, render
from topology.forwarder import KafkaLogin
from topology.model import Tenant

log = logging.getLogger("logway.operator")
HASH_ANNOTATION = "logway.dev/forwarder-config"


class ForwarderRoutes:
    """Writes the forwarders' ConfigMap and rolls their DaemonSet when the routes change."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        configmap: str,
        daemonset: str | None,
        login: KafkaLogin,
        *,
        agent: Agent = "fluent-bit",
    ) -> None:
        self.core, self.apps = client.CoreV1Api(api), client.AppsV1Api(api)
        self.namespace, self.configmap, self.daemonset = namespace, configmap, daemonset
        self.login, self.agent = login, agent
        self.key = CONFIG_FILE[agent]
        self._lock = threading.Lock()
        self._written: str | None = None

    def update(self, tenants: Sequence[Tenant]) -> bool:
        """Render the routes of `tenants`; write and roll them out if they changed. True if
        they were written."""
        text = render(sorted(tenants, key=lambda t: t.name), self.agent, self.login)
        with self._lock:
            if text == self._written:
                return False
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            changed = self._write(text)
            if changed:
                self._roll(digest)
            self._written = text
            return changed

    def _write(self, text: str) -> bool:
        body = client.V1ConfigMap(
            metadata=client.V1ObjectMeta(
                name=self.configmap,
                labels={"app.kubernetes.io/managed-by": "logway-operator"},
            ),
            data={self.key: text},
        )
        try:
            current = self.core.read_namespaced_config_map(self.configmap, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.core.create_namespaced_config_map(self.namespace, body)
            log.info("forwarder routes written to ConfigMap %s", self.configmap)
            return True
        if (current.data or {}).get(self.key) == text:
            return False
        self.core.replace_namespaced_config_map(self.configmap, self.namespace, body)
        log.info("forwarder routes changed in ConfigMap %s", self.configmap)
        return True

    def _roll(self, digest: str) -> None:
        if self.daemonset is None:
            return
        patch = {"spec": {"template": {"metadata": {"annotations": {HASH_ANNOTATION: digest}}}}}
        try:
            self.apps.patch_namespaced_daemon_set(self.daemonset, self.namespace, patch)
        except ApiException as exc:
            if exc.status != 404:
                raise
            log.warning("no DaemonSet %s to roll the new routes out to", self.daemonset)
