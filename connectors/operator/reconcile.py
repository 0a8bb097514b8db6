"""One LoggingPipeline, reconciled: the same validate -> plan -> apply -> publish path as
`logway apply`, for that one tenant, as what its resource declares.

Nothing is applied halfway: a spec that fails any check (the model, the samples' dry run, the
claims) changes nothing and the tenant stays at its last good version; a change a server
refuses leaves the version unpublished (apply's own rule), and the reconcile is retried. Every
call returns a `Verdict`, never raises for a refused or failed tenant.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from confluent_kafka.admin import AdminClient
from pydantic import ValidationError

from connectors.operator.config import OperatorConfig
from logway.core.control import TopicFollower
from logway.core.metrics import RECONCILES
from logway.core.names import TENANTS_TOPIC, tenant_topics
from topology.access import create_scram_user
from topology.apply import apply, plan
from topology.ceilings import CEILING_PATHS
from topology.live import check_live, shrink
from topology.load import ConfigError, LoadResult, load_document
from topology.model import Tenant
from topology.ownership import (
    ADOPT_ANNOTATION,
    DELETE_DATA_ANNOTATION,
    Namespace,
    Refusal,
    Resource,
    refusals,
)
from topology.planning import SERVER_ERRORS, unreachable
from topology.publish import PublishedTenant, tenant_version
from topology.readers import create_api_key, invalidate_api_keys
from topology.reservations import reserved_message, reserved_names
from topology.resources.change import Change
from topology.resources.topics import partition_counts
from topology.targets import Targets

log = logging.getLogger("logway.operator")

Result = Literal["applied", "invalid", "refused", "failed", "removed"]
MAX_MESSAGE = 1800  # a condition's message: enough for a handful of errors, never the whole spec


@dataclass(frozen=True)
class Verdict:
    """What one reconcile found. `reason` is one CamelCase word for the conditions."""

    result: Result
    reason: str
    message: str
    version: str | None = None  # the version this spec is (when it validated)
    live: str | None = None  # the version the workers run for this resource's tenant
    owner: str | None = None  # who holds what this resource was refused
    # On success: the Secret's keys the tenant has credentials for on the servers, and those
    # this reconcile made (their files' contents), which the Secret must take now.
    expects: frozenset[str] = frozenset()
    made: Mapping[str, bytes] = field(default_factory=dict)


def tenant_of(name: str, spec: Mapping[str, object]) -> Tenant | None:
    """The tenant a resource declares, or None when its spec does not validate (no dry run:
    for the claims index, which must be cheap)."""
    try:
        return Tenant.model_validate({"name": name, **spec})
    except ValidationError:
        return None


Call = TypeVar("Call", bound=Callable[..., Verdict])


def _counted(method: Call) -> Call:
    """Count each verdict by its result (`logway_operator_reconciles_total`)."""

    @functools.wraps(method)
    def counted(*args: Any, **kwargs: Any) -> Verdict:
        verdict = method(*args, **kwargs)
        RECONCILES.labels(verdict.result).inc()
        return verdict

    return cast(Call, counted)


class PublishedTenants:
    """`_logway.tenants`, followed: the live version of every tenant, without reading the
    whole topic for each reconcile."""

    def __init__(self, config: OperatorConfig) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, PublishedTenant] = {}
        self.follower = TopicFollower(
            config.kafka, "logway-operator", TENANTS_TOPIC, self._take, ready_when_missing=True
        )

    def _take(self, key: str, value: bytes | None) -> None:
        with self._lock:
            if value is None:
                self._latest.pop(key, None)
                return
            try:
                self._latest[key] = PublishedTenant.model_validate_json(value)
            except ValidationError:
                log.warning("an unreadable record for tenant %s in %s", key, TENANTS_TOPIC)

    def snapshot(self) -> dict[str, PublishedTenant]:
        with self._lock:
            return dict(self._latest)

    def record(self, tenant: Tenant, source: str) -> None:
        """What this operator just published, known before the follower reads it back."""
        live = PublishedTenant.model_validate(
            {
                "name": tenant.name,
                "version": tenant_version(tenant),
                "published_at": "1970-01-01T00:00:00Z",
                "spec": tenant,
                "source": source,
            }
        )
        with self._lock:
            current = self._latest.get(tenant.name)
            if current is None or current.version != live.version:
                self._latest[tenant.name] = live

    def forget(self, name: str) -> None:
        with self._lock:
            self._latest.pop(name, None)


class Reconciler:
    """Applies LoggingPipelines to Kafka and Elasticsearch."""

    def __init__(self, config: OperatorConfig) -> None:
        self.config = config
        self.published = PublishedTenants(config)
        self.targets = Targets(
            admin=AdminClient(config.kafka.admin()),
            es=config.es.client(),
            kafka=config.kafka,
            replication_factor=config.topic_replication_factor,
            min_insync_replicas=config.topic_min_insync_replicas,
            ceilings=config.ceilings,
        )

    def start(self, timeout: float = 60) -> None:
        self.published.follower.start()
        if not self.published.follower.caught_up.wait(timeout):
            raise TimeoutError(f"could not read {TENANTS_TOPIC} to its end in {timeout:.0f}s")

    def stop(self) -> None:
        self.published.follower.stop()

    @_counted
    def reconcile(
        self,
        resource: Resource,
        spec: Mapping[str, object],
        namespaces: Mapping[str, Namespace],
        claimants: Mapping[tuple[str, str], Iterable[Resource]],
    ) -> Verdict:
        published = self.published.snapshot()
        live = _live_version(published, resource)
        loaded = load_document(resource.source, {"name": resource.name, **spec})
        if not loaded.tenants:
            return Verdict("invalid", "Invalid", spec_messages(loaded.errors), live=live)
        tenant = loaded.tenants[0].tenant
        version = tenant_version(tenant)
        try:
            refused = refusals(tenant, resource, namespaces, claimants)
            if refused:
                return self._refused(resource, refused, published, version, live)
            # Taking over a tenant published from files is the platform's call: the resource's
            # namespace lists the tenant in its logway.dev/adopt annotation.
            home = namespaces.get(resource.namespace, Namespace(resource.namespace))
            adopt = resource.name in home.listed(ADOPT_ANNOTATION)
            return self._apply(resource, loaded, published, adopt=adopt, version=version, live=live)
        except SERVER_ERRORS as exc:
            failure = unreachable(exc)
            return Verdict("failed", failure.reason, _cut(failure.detail), version, live)

    def _refused(
        self,
        resource: Resource,
        refused: list[Refusal],
        published: dict[str, PublishedTenant],
        version: str,
        live: str | None,
    ) -> Verdict:
        owner = next((r.owner for r in refused if r.owner), None)
        message = "; ".join(f"{spec_path(r.loc)}: {r.message}" for r in refused)
        reason = "ClaimTaken" if owner else "NotConsented"
        if live is not None:
            # It was live: a namespace withdrew its consent, or the home namespace a grant.
            # What it may no longer claim stops now, not at its next change of spec: the
            # tenant is unpublished (its data kept) until the claim is allowed again.
            failed = self._unpublish(resource, published[resource.name], delete_data=False)
            if failed is not None:
                return failed
            message += f"; version {live} unpublished until then (its data is kept)"
        return Verdict("refused", reason, _cut(message), version, None, owner)

    def _apply(
        self,
        resource: Resource,
        loaded: LoadResult,
        published: dict[str, PublishedTenant],
        *,
        adopt: bool,
        version: str,
        live: str | None,
    ) -> Verdict:
        tenant = loaded.tenants[0].tenant
        reserved = reserved_names(self.targets.es, [tenant.name], resource.source, published)
        if reserved:
            keeper = reserved[tenant.name]
            message = f"metadata.name: {reserved_message(tenant.name, keeper)}"
            return Verdict("refused", "NameReserved", _cut(message), version, live, keeper)
        admin, timeout = self.targets.admin, self.targets.timeout
        partitions = partition_counts(admin, tenant_topics(tenant.name), timeout)
        problems = check_live(
            loaded,
            published,
            partitions,
            self.config.kafka.username,
            source=resource.source,
            adopt=adopt,
            ceilings=self.targets.ceilings,
        )
        if problems:
            held = published.get(tenant.name)
            owner = held.source if held is not None and held.source != resource.source else None
            # Fewer partitions than the topics have, or more than the platform's ceilings, is
            # the spec's fault; the rest are claims.
            spec_fault = all(p.path.endswith(CEILING_PATHS) for p in problems)
            if spec_fault:
                return Verdict("invalid", "Invalid", spec_messages(problems), version, live)
            return Verdict("refused", "Conflict", spec_messages(problems), version, live, owner)
        # New credentials go to a folder of this reconcile only, and from it straight into the
        # verdict, then the Secret: the operator keeps no state a replaced pod would lose.
        with tempfile.TemporaryDirectory(prefix="logway-credentials-") as folder:
            made = Path(folder)
            targets = replace(self.targets, source=resource.source, credentials_dir=made)
            changes = plan(targets, [tenant], published, scope=lambda _name: False)
            done = apply(targets, [tenant], changes)
            credentials = read_credentials(made, tenant.name)
        failed = [c for c in done if c.result in ("failed", "skipped")]
        if failed:
            return Verdict("failed", "ApplyFailed", _cut(_changes(failed)), version, live)
        self.published.record(tenant, resource.source)
        pending = [c for c in done if c.result == "done" and c.pending]
        message = (
            f"version {version} is live: {len(pending)} change(s) applied"
            if pending
            else f"version {version} is live; nothing to change"
        )
        return Verdict(
            "applied",
            "Applied" if pending else "UpToDate",
            message,
            version,
            version,
            expects=expected_credentials(done),
            made=credentials,
        )

    def renew(self, tenant: str, keys: Iterable[str]) -> dict[str, bytes]:
        """New credentials for the Secret's `keys` that it lacks although the servers have the
        credential (written there, then lost before the Secret: a crash, a replaced pod, an
        adopted tenant). The old password or key stops working: nobody but the servers knew it."""
        with tempfile.TemporaryDirectory(prefix="logway-credentials-") as folder:
            made = Path(folder)
            for key in sorted(keys):
                if key == KAFKA_CREDENTIALS:
                    create_scram_user(self.targets.admin, tenant, made, self.targets.timeout)
                elif key == ES_CREDENTIALS:
                    invalidate_api_keys(self.targets.es, tenant)
                    create_api_key(self.targets.es, tenant, made)
            log.warning("tenant %s: new %s for its Secret", tenant, ", ".join(sorted(keys)))
            return read_credentials(made, tenant)

    @_counted
    def remove(self, resource: Resource, annotations: Mapping[str, str]) -> Verdict:
        """Unpublish the tenant this resource declared, if it did: its data stays unless the
        resource carries `logway.dev/delete-data: "true"`. A tenant another source publishes
        is left alone."""
        published = self.published.snapshot()
        live = published.get(resource.name)
        if live is None or live.source != resource.source:
            return Verdict("removed", "NothingPublished", "this resource published no tenant")
        delete_data = annotations.get(DELETE_DATA_ANNOTATION) == "true"
        failed = self._unpublish(resource, live, delete_data=delete_data)
        if failed is not None:
            return failed
        kept = "its topics and indices deleted" if delete_data else "its data kept"
        return Verdict("removed", "Removed", f"tenant {resource.name} unpublished; {kept}")

    def _unpublish(
        self, resource: Resource, live: PublishedTenant, *, delete_data: bool
    ) -> Verdict | None:
        """Unpublish the tenant `resource` published: its version, login, grants, quotas and
        reader key go, and its data too with `delete_data`. None when done, else why not."""
        changes = plan(
            self.targets,
            [],
            {resource.name: live},
            prune=True,
            delete_data=delete_data,
            keep_data=not delete_data,
            scope=lambda name: name == resource.name,
        )
        done = apply(self.targets, [], changes)
        failed = [c for c in done if c.result in ("failed", "skipped")]
        if failed:
            return Verdict("failed", "RemoveFailed", _cut(_changes(failed)))
        self.published.forget(resource.name)
        return None

    def admission_refusal(self, tenant: Tenant, resource: Resource) -> str | None:
        """What the servers know that refuses `tenant` at admission, as the reconcile would:
        fewer partitions than its topics have, a name reserved for another owner."""
        published = self.published.snapshot()
        reserved = reserved_names(self.targets.es, [tenant.name], resource.source, published)
        if reserved:
            return f"metadata.name: {reserved_message(tenant.name, reserved[tenant.name])}"
        topics = tenant_topics(tenant.name)
        shrinks = shrink(tenant, partition_counts(self.targets.admin, topics, self.targets.timeout))
        return None if shrinks is None else f"spec.topics.partitions: {shrinks}"


# The Secret's keys, from the files apply writes (`<tenant>.properties`, `<tenant>.elasticsearch`).
KAFKA_CREDENTIALS, ES_CREDENTIALS = "kafka.properties", "elasticsearch.properties"
SECRET_KEYS = {"properties": KAFKA_CREDENTIALS, "elasticsearch": ES_CREDENTIALS}
# The change that keeps each credential on the servers.
CREDENTIAL_OF_CHANGE = {"user": KAFKA_CREDENTIALS, "reader key": ES_CREDENTIALS}


def read_credentials(folder: Path, tenant: str) -> dict[str, bytes]:
    """The credentials apply wrote for `tenant` into `folder`, by their Secret key."""
    found = {}
    for path in folder.glob(f"{tenant}.*"):
        key = SECRET_KEYS.get(path.name.removeprefix(f"{tenant}."))
        if key is not None:
            found[key] = path.read_bytes()
    return found


def expected_credentials(done: Iterable[Change]) -> frozenset[str]:
    """The Secret keys whose credential the servers hold after `done` (made or kept)."""
    return frozenset(
        CREDENTIAL_OF_CHANGE[c.kind]
        for c in done
        if c.kind in CREDENTIAL_OF_CHANGE and c.action in ("create", "unchanged")
    )


def _live_version(published: Mapping[str, PublishedTenant], resource: Resource) -> str | None:
    live = published.get(resource.name)
    return live.version if live is not None and live.source == resource.source else None


def spec_path(loc: tuple[int | str, ...]) -> str:
    if loc == ("name",):
        return "metadata.name"
    return ".".join(["spec", *(str(part) for part in loc)])


def spec_messages(errors: Iterable[ConfigError]) -> str:
    """Errors as `spec.<field>: what to do`, the resource's own paths (the tenant's name, which
    starts an error's path, is the resource's name)."""
    lines = []
    for error in errors:
        _tenant, _, rest = error.path.partition(".")
        where = "metadata.name" if rest == "name" else f"spec.{rest}" if rest else "spec"
        lines.append(f"{where}: {error.message}")
    return _cut("; ".join(lines))


def _changes(changes: Iterable[Change]) -> str:
    return "; ".join(f"{c.kind} {c.name}: {c.detail}" for c in changes)


def _cut(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
