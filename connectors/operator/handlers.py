"""The operator's kopf handlers: what it watches, when it reconciles, and what it writes back.

- Two indices, kept by kopf from watches: every LoggingPipeline's claims (for the rule that
  the oldest claimant keeps a claim) and every namespace's labels and annotations (consent).
- On create, update (spec, labels or annotations) and resume (operator start), a resource is
  reconciled; its status, Events and the Secret `logway-<tenant>` (the tenant's Kafka password
  and Elasticsearch key) are written. A resource refused for a claim, or whose apply failed,
  is retried every `retry_s`; an invalid one waits for its next change.
- A finalizer holds a deleted resource until its tenant is unpublished.
- The admission webhook (optional) refuses at `kubectl apply` what the reconciler would refuse.
Only one operator may run: it is a single-replica Deployment (kopf's peering is off).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import kopf
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from connectors.operator.config import OperatorConfig
from connectors.operator.diffbase import DigestDiffBaseStorage
from connectors.operator.forwarder import ForwarderRoutes
from connectors.operator.reconcile import (
    Reconciler,
    Verdict,
    spec_messages,
    spec_path,
    tenant_of,
)
from connectors.operator.secret import ensure_secret
from connectors.operator.status import status
from connectors.runtime.kube import api_client
from logway.core.loops import die, is_transient
from topology.ceilings import over_ceilings
from topology.crd import API_VERSION, GROUP, KIND, PLURAL, VERSION
from topology.load import load_document
from topology.ownership import Namespace, Resource, all_claims, refusals
from topology.planning import SERVER_ERRORS

log = logging.getLogger("logway.operator")
T = TypeVar("T")
PREFIX = "logway.dev"  # kopf's own annotations (progress, last handled spec) go under it
FINALIZER = "logway.dev/unpublish"
# Set by the operator on the resources a namespace's change concerns, to reconcile them. Not
# under PREFIX: kopf leaves its own prefix's annotations out of what counts as a change.
NUDGE_ANNOTATION = "operator.logway.dev/namespace-changed"
NUDGE_ATTEMPTS = 5


def resource_of(meta: Mapping[str, Any]) -> Resource:
    return Resource(str(meta.get("creationTimestamp", "")), meta["namespace"], meta["name"])


class Operator:
    """What the handlers do, around one Reconciler: the blocking work runs in a pool of
    `workers` threads, never in kopf's event loop."""

    def __init__(self, settings: OperatorConfig) -> None:
        self.settings = settings
        self.reconciler = Reconciler(settings)
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="reconcile")
        self.routes = _routes(settings)
        self.core = client.CoreV1Api(api_client(settings.kubeconfig))
        # Each namespace's labels and annotations when last seen (`namespace_changed`).
        self.namespaces_seen: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

    async def work(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, call)

    def route(self) -> None:
        """The forwarders' routes from every published tenant (when the operator keeps them);
        a failure is retried with the reconcile."""
        if self.routes is None:
            return
        tenants = [live.spec for live in self.reconciler.published.snapshot().values()]
        try:
            self.routes.update(tenants)
        except ApiException as exc:
            message = f"forwarder routes: {exc.reason}"
            raise kopf.TemporaryError(message, delay=self.settings.retry_s) from exc

    def tell(self, body: kopf.Body, verdict: Verdict) -> None:
        """On success the tenant's Secret, complete (before the status says Ready); the Event."""
        if verdict.result == "applied":
            resource = resource_of(body["metadata"])
            renewed = ensure_secret(self.core, resource, verdict, self.reconciler.renew)
            if renewed:
                log.warning("%s: the Secret lacked %s; renewed", resource.ref, ", ".join(renewed))
        _event(self.core, body, verdict)

    def nudge(self, resources: Iterable[Resource], why: str) -> None:
        """Have kopf reconcile `resources` now: an annotation change is an update to it. kopf
        does not retry an event handler, and a lost nudge would leave a withdrawn claim live:
        a transient failure is tried again (1, 2, 4, 8, 16 s), and after that, or on any other
        failure, the process ends; its restart resumes, so checks, every resource."""
        custom = client.CustomObjectsApi(self.core.api_client)
        body = {"metadata": {"annotations": {NUDGE_ANNOTATION: why}}}
        for resource in resources:
            for attempt in range(NUDGE_ATTEMPTS):
                try:
                    custom.patch_namespaced_custom_object(
                        GROUP, VERSION, resource.namespace, PLURAL, resource.name, body
                    )
                    break
                except Exception as exc:
                    if isinstance(exc, ApiException) and exc.status == 404:
                        break  # deleted meanwhile: nothing to reconcile
                    if not is_transient(exc) or attempt == NUDGE_ATTEMPTS - 1:
                        die(f"nudging {resource.ref} after a namespace's change", exc)
                    time.sleep(2**attempt)

    def remove(self, meta: kopf.Meta) -> None:
        verdict = self.reconciler.remove(resource_of(meta), dict(meta.annotations))
        if verdict.result == "failed":
            raise kopf.TemporaryError(verdict.message, delay=self.settings.retry_s)
        self.route()
        log.info("%s: %s", resource_of(meta).ref, verdict.message)


def build(settings: OperatorConfig) -> tuple[kopf.OperatorRegistry, Operator]:
    """The handlers, registered in their own registry, around one Operator."""
    registry = kopf.OperatorRegistry()
    op = Operator(settings)

    @kopf.on.startup(registry=registry)
    def configure(*, settings: kopf.OperatorSettings, **_: Any) -> None:
        _configure(settings, op.settings)

    @kopf.on.login(registry=registry)
    def login(
        *, settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any
    ) -> kopf.ConnectionInfo | None:
        if op.settings.kubeconfig is None:  # the pod's service account
            return kopf.login_via_client(settings=settings, logger=logger)
        return _connection(op.settings.kubeconfig)

    @kopf.index(GROUP, VERSION, PLURAL, registry=registry, id="claims")
    def claims(*, name: str, spec: Mapping[str, Any], meta: Mapping[str, Any], **_: Any) -> Any:
        tenant = tenant_of(name, spec)
        if tenant is None:
            return {}
        resource = resource_of(meta)
        return {(kind, value): resource for kind, value, _loc in all_claims(tenant)}

    @kopf.index("", "v1", "namespaces", registry=registry, id="namespaces")
    def namespaces(*, name: str, meta: Mapping[str, Any], **_: Any) -> Any:
        labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
        return {name: Namespace(name, dict(labels), dict(annotations))}

    @kopf.on.event("", "v1", "namespaces", registry=registry, id="consent")
    async def namespace_changed(
        *, name: str, meta: kopf.Meta, event: Mapping[str, Any], **indices: Any
    ) -> None:
        """A namespace's labels or annotations changed (consent given or withdrawn, a grant,
        an adoption): reconcile now the resources they concern, not at their next change."""
        notes = (dict(meta.labels), dict(meta.annotations))
        seen = op.namespaces_seen.get(name)
        op.namespaces_seen[name] = notes
        if event.get("type") != "MODIFIED" or seen is None or seen == notes:
            return
        concerned = {
            resource
            for (kind, value), store in indices["claims"].items()
            for resource in store
            if resource.namespace == name or (kind == "namespace" and value == name)
        }
        await op.work(lambda: op.nudge(concerned, meta.get("resourceVersion", "")))

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry, id="reconcile")
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry, id="reconcile")
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry, id="reconcile")
    async def reconcile(
        *,
        body: kopf.Body,
        meta: kopf.Meta,
        spec: kopf.Spec,
        status: kopf.Status,
        patch: kopf.Patch,
        **indices: Any,  # kopf passes each index by its handler's name
    ) -> None:
        resource = resource_of(meta)
        # The indices change in the event loop's thread: read them here, work in the pool.
        namespaces, claimants = _first(indices["namespaces"]), _all(indices["claims"])
        verdict = await op.work(
            lambda: op.reconciler.reconcile(resource, dict(spec), namespaces, claimants)
        )
        await op.work(lambda: op.tell(body, verdict))  # the Secret is complete before Ready
        generation = int(meta.get("generation") or 0)
        _write_status(patch, verdict, resource, generation=generation, previous=status)
        await op.work(op.route)  # a refusal may have unpublished it: its route goes too
        if verdict.result in ("refused", "failed"):
            raise kopf.TemporaryError(verdict.message, delay=op.settings.retry_s)

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, id="unpublish")
    def remove(*, meta: kopf.Meta, **_: Any) -> None:
        op.remove(meta)

    @kopf.on.validate(
        GROUP,
        VERSION,
        PLURAL,
        registry=registry,
        id="tenant",
        ignore_failures=True,
        operations=["CREATE", "UPDATE"],
    )
    async def admit(
        *,
        body: kopf.Body,
        spec: kopf.Spec,
        **indices: Any,  # and `old`: the object before an update
    ) -> None:
        """Refuse what the reconciler would refuse. An update that leaves the spec as it was
        (the operator's own finalizer and annotations, a label) is never refused: a resource
        stored while the operator was down must still be reconciled."""
        old = indices.get("old")
        if old is not None and old.get("spec") == body.get("spec"):
            return
        meta = body.get("metadata", {})
        resource = Resource(
            str(meta.get("creationTimestamp") or "9999"), meta.get("namespace", ""), meta["name"]
        )
        namespaces, claimants = _first(indices["namespaces"]), _all(indices["claims"])
        message = await op.work(
            lambda: _refused(op.reconciler, resource, dict(spec), namespaces, claimants)
        )
        if message is not None:
            text, code = message
            raise kopf.AdmissionError(text, code=code)

    return registry, op


def _routes(settings: OperatorConfig) -> ForwarderRoutes | None:
    if settings.forwarder_configmap is None or settings.forwarder_namespace is None:
        return None
    return ForwarderRoutes(
        api_client(settings.kubeconfig),
        settings.forwarder_namespace,
        settings.forwarder_configmap,
        settings.forwarder_daemonset,
        settings.forwarder_login,
        agent=settings.forwarder_agent,
    )


def _refused(
    reconciler: Reconciler,
    resource: Resource,
    spec: dict[str, Any],
    namespaces: dict[str, Namespace],
    claimants: dict[tuple[str, str], list[Resource]],
) -> tuple[str, int] | None:
    """Why admission refuses this spec, and the HTTP code (None: admitted): whatever the
    reconcile would refuse that can be known now (the servers unreachable: let it in, the
    reconcile says it in status)."""
    loaded = load_document(resource.source, {"name": resource.name, **spec})
    if not loaded.tenants:
        return spec_messages(loaded.errors), 422
    tenant = loaded.tenants[0].tenant
    over = over_ceilings(tenant, reconciler.config.ceilings)
    if over:
        return "; ".join(f"{spec_path(loc)}: {message}" for loc, message in over), 422
    refused = refusals(tenant, resource, namespaces, claimants)
    if refused:
        return "; ".join(f"{spec_path(r.loc)}: {r.message}" for r in refused), 409
    try:
        online = reconciler.admission_refusal(tenant, resource)
    except SERVER_ERRORS as exc:
        log.warning("admitting %s unchecked against the servers: %s", resource.ref, exc)
        return None
    if online is not None:
        return online, 422 if online.startswith("spec.") else 409
    return None


def _configure(settings: kopf.OperatorSettings, cfg: OperatorConfig) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = DigestDiffBaseStorage(prefix=PREFIX)
    settings.persistence.finalizer = FINALIZER
    settings.posting.enabled = False  # our own Events say what happened, once
    settings.watching.server_timeout = 300
    if cfg.webhook_host is not None:
        settings.admission.server = kopf.WebhookServer(
            addr=cfg.webhook_listen,
            port=cfg.webhook_port,
            host=cfg.webhook_host,
            certfile=str(cfg.webhook_cert_file),
            pkeyfile=str(cfg.webhook_key_file),
            cafile=str(cfg.webhook_ca_file),
        )
        settings.admission.managed = PREFIX


def _connection(kubeconfig: Path) -> kopf.ConnectionInfo:
    """kopf's login from a kubeconfig file (a bearer token or a client certificate)."""
    conf = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=conf)
    keys = conf.api_key or {}
    bearer = keys.get("BearerToken") or keys.get("authorization") or ""
    token = bearer.removeprefix("Bearer ")
    return kopf.ConnectionInfo(
        server=conf.host,
        ca_path=conf.ssl_ca_cert,
        token=token or None,
        scheme="Bearer" if token else None,
        certificate_path=conf.cert_file,
        private_key_path=conf.key_file,
    )


def _first(index: kopf.Index[str, Namespace]) -> dict[str, Namespace]:
    return {key: next(iter(store)) for key, store in index.items()}


def _all(index: kopf.Index[tuple[str, str], Resource]) -> dict[tuple[str, str], list[Resource]]:
    return {key: list(store) for key, store in index.items()}


def _write_status(
    patch: kopf.Patch, verdict: Verdict, resource: Resource, *, generation: int, previous: Any
) -> None:
    for key, value in status(verdict, resource.name, generation, previous).items():
        patch.status[key] = value


def _event(core: client.CoreV1Api, body: kopf.Body, verdict: Verdict) -> None:
    """A Kubernetes Event on the resource for what changed: a version applied (Normal), or why
    not (Warning). Nothing for a reconcile that changed nothing."""
    if verdict.reason == "UpToDate":
        return
    meta = body.get("metadata", {})
    now = datetime.now(UTC)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}."),
        involved_object=client.V1ObjectReference(
            api_version=API_VERSION,
            kind=KIND,
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta.get("uid"),
            resource_version=meta.get("resourceVersion"),
        ),
        reason=verdict.reason,
        message=verdict.message,
        type="Normal" if verdict.result in ("applied", "removed") else "Warning",
        first_timestamp=now,
        last_timestamp=now,
        count=1,
        source=client.V1EventSource(component="logway-operator"),
        reporting_component="logway-operator",
    )
    try:
        core.create_namespaced_event(meta["namespace"], event)
    except ApiException as exc:  # an Event is for people; never fail a reconcile for one
        log.warning("could not post an Event on %s: %s", meta["name"], exc.reason)


def run_operator(settings: OperatorConfig) -> None:
    """Run until SIGTERM/SIGINT: reconcile every LoggingPipeline in the cluster."""
    for chatty in ("elastic_transport", "kafka", "aiohttp.access"):  # a line per request
        logging.getLogger(chatty).setLevel(logging.WARNING)
    registry, op = build(settings)
    op.reconciler.start()
    try:
        op.route()  # the routes of what is published already, before anything changes
    except kopf.TemporaryError as exc:
        log.warning("%s; written again after the next reconcile", exc)
    try:
        kopf.run(registry=registry, clusterwide=True, standalone=True)
    except Exception as exc:
        # One of kopf's own tasks failed (its admission or watch machinery, e.g. for want of
        # a permission): what is left would run on admitting and reconciling nothing.
        die("the operator's kopf machinery", exc)
    finally:
        op.reconciler.stop()
