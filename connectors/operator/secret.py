"""The Secret `logway-<tenant>` in a LoggingPipeline's namespace: the tenant's Kafka login and
Elasticsearch reader key, complete after every successful reconcile.

The servers keep a credential's hash, never the credential: a password or key made by `apply`
exists only in what the reconcile hands over (`Verdict.made`) until it is in the Secret. If it
never got there (the operator killed in between, a replaced pod, a tenant adopted from files),
the Secret lacks a key the servers have: that credential is made anew (`Reconciler.renew`),
which ends the old one, and written. Nothing is kept on the operator's disk.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterable, Mapping

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from connectors.operator.reconcile import Verdict
from topology.ownership import Resource

log = logging.getLogger("logway.operator")

Renew = Callable[[str, Iterable[str]], Mapping[str, bytes]]


def secret_name(tenant: str) -> str:
    return f"logway-{tenant}"


def ensure_secret(
    core: client.CoreV1Api, resource: Resource, verdict: Verdict, renew: Renew
) -> list[str]:
    """Write what the reconcile made into the Secret, and renew what the Secret lacks; returns
    the keys renewed."""
    name = secret_name(resource.name)
    try:
        current = core.read_namespaced_secret(name, resource.namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        current = None
    have = {
        key: base64.b64decode(value) for key, value in ((current and current.data) or {}).items()
    }
    data = {**have, **verdict.made}
    missing = sorted(verdict.expects - data.keys())
    if missing:
        data.update(renew(resource.name, missing))
    if current is not None and data == have:
        return missing
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(
            name=name, labels={"app.kubernetes.io/managed-by": "logway-operator"}
        ),
        type="Opaque",
        data={key: base64.b64encode(value).decode() for key, value in sorted(data.items())},
    )
    if current is None:
        core.create_namespaced_secret(resource.namespace, body)
    else:
        core.replace_namespaced_secret(name, resource.namespace, body)
    return missing
