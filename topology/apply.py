"""Plan and apply tenants: their topics, topic settings, index templates, and published versions.

`plan` reads the current state from Kafka, Elasticsearch and `_logway.tenants` and lists what
`apply` would change; `apply` carries out exactly that plan. Each change belongs to one tenant;
a tenant's new version is published only if all its other changes succeeded, so a failure
leaves that tenant at its last good version while every other tenant goes ahead. Nothing is
ever deleted (but for grants logway itself made and no longer wants), and partitions only grow
(Kafka cannot shrink them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from confluent_kafka import (
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    OffsetSpec,
)
from confluent_kafka.cimpl import NewPartitions, NewTopic
from elasticsearch import ApiError, Elasticsearch, TransportError

from logway.core.control import FILES, TENANTS_TOPIC_CONFIG
from logway.core.document import document_mapping
from logway.core.kafka import KafkaConnection
from logway.core.kubernetes import PODS_TOPIC, PODS_TOPIC_CONFIG
from logway.core.names import (
    FORWARDER_USER,
    INDEX_TEMPLATE_PRIORITY,
    TENANTS_TOPIC,
    index_pattern,
    index_patterns,
    index_template_name,
    raw_topic,
    reader_role_name,
    tenant_topics,
)
from topology import readers
from topology.access import (
    FORWARDER_PRINCIPAL,
    Grant,
    NoAuthorizer,
    broker_grants,
    create_grants,
    create_scram_user,
    delete_grants,
    delete_scram_user,
    forwarder_grants,
    scram_user_exists,
    superseded,
    tenant_grants,
    tenant_principal,
)
from topology.ceilings import Ceilings
from topology.forwarder import UNCLAIMED_TOPIC
from topology.model import Tenant
from topology.publish import PublishedTenant, publish, tenant_version
from topology.quotas import QuotaClient, QuotaError

Kind = Literal[
    "topic",
    "topic config",
    "index template",
    "user",
    "acl",
    "quota",
    "forwarder quota",
    "reader role",
    "reader key",
    "forwarder route",
    "tenant version",
    "indices",
]
Action = Literal[
    "create",
    "grow partitions",
    "update",
    "publish",
    "unchanged",
    "kept larger",
    "not declared",
    "unsupported",
    "delete",
    "keep data",
    "re-render",
]
Result = Literal["done", "failed", "skipped"]
MANAGED_TOPIC_CONFIGS = ("retention.ms", "max.message.bytes", "min.insync.replicas")


@dataclass(frozen=True)
class Change:
    """One thing `apply` would do (or found already done) for one tenant."""

    tenant: str
    kind: Kind
    name: str
    action: Action
    detail: str = ""
    result: Result | None = None  # set by apply
    grant: Grant | None = field(default=None, compare=False, repr=False)  # for ACL changes

    @property
    def pending(self) -> bool:
        return self.action in ("create", "grow partitions", "update", "publish", "delete")


def topic_configs(tenant: Tenant, topic: str, min_insync_replicas: int = 0) -> dict[str, str]:
    """The topic configs apply keeps as declared; `min_insync_replicas` 0: the broker's own."""
    hours = tenant.dlq.retention_hours if topic.endswith(".dlq") else tenant.topics.retention_hours
    configs = {
        "retention.ms": str(hours * 3_600_000),
        "max.message.bytes": str(tenant.topics.max_record_bytes),
    }
    if min_insync_replicas:
        configs["min.insync.replicas"] = str(min_insync_replicas)
    return configs


def index_template(tenant: Tenant, replicas: int, owner: str = FILES) -> dict[str, Any]:
    """The tenant's index template; its `_meta.owner` (where the tenant is declared) reserves
    the name while the indices are kept (`topology.reservations`)."""
    return {
        "index_patterns": index_patterns(tenant.name),
        "priority": INDEX_TEMPLATE_PRIORITY,
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": replicas},
            "mappings": {"properties": document_mapping()},
        },
        "_meta": {"managed_by": "logway", "tenant": tenant.name, "owner": owner},
    }


@dataclass
class Targets:
    """The servers a plan is made against and applied to."""

    admin: AdminClient
    es: Elasticsearch
    kafka: KafkaConnection
    credentials_dir: Path = Path(".logway/credentials")
    timeout: float = 15.0
    replication_factor: int = -1  # of new topics; -1: the broker's default.replication.factor
    min_insync_replicas: int = 0  # kept on every tenant topic; 0: the broker's default
    source: str = FILES  # what the published versions say they were declared in
    ceilings: Ceilings = field(default_factory=Ceilings)  # the most a tenant may declare
    # Clients made on first use, shared by copies (`replace(targets, source=...)`): a
    # long-running caller (the operator) applies many times through one of each.
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def quotas(self) -> QuotaClient:
        with _CLIENTS:
            if "quotas" not in self._clients:
                self._clients["quotas"] = QuotaClient(self.kafka, self.timeout)
            quotas: QuotaClient = self._clients["quotas"]
        return quotas

    @property
    def producer(self) -> Producer:
        """The producer that publishes tenant versions."""
        with _CLIENTS:
            if "producer" not in self._clients:
                self._clients["producer"] = Producer(self.kafka.producer({"log_level": 0}))
            producer: Producer = self._clients["producer"]
        return producer


_CLIENTS = threading.Lock()


# -- plan ----------------------------------------------------------------------------------------


def plan(
    targets: Targets,
    tenants: Sequence[Tenant],
    published: dict[str, PublishedTenant],
    *,
    prune: bool = False,
    delete_data: bool = False,
    keep_data: bool = False,
    scope: Callable[[str], bool] = lambda _name: True,
) -> list[Change]:
    """Everything `apply` would do for `tenants`, in the order it would do it.

    Without `prune`, nothing is ever deleted: published tenants no longer declared and grants
    nobody declared are only reported. With `prune`, they are removed, except topics that hold
    records, which need `delete_data` as well. Only published tenants for which `scope` is
    true are considered (a platform may manage groups of tenants from separate places). With
    `keep_data`, a removed tenant is only unpublished (its version, principal, grants, quotas,
    reader role and key go), and its topics, template and indices stay for a later return.
    """
    changes = [
        *_plan_topics(targets, tenants),
        *_plan_templates(targets, tenants),
        *_plan_access(targets, tenants),
        *_plan_readers(targets, tenants),
        *_plan_forwarder(tenants, published),
        *_plan_versions(tenants, published),
    ]
    if prune:
        changes = [
            replace(c, action="delete", detail="") if c.action == "not declared" else c
            for c in changes
        ]
    declared = {t.name for t in tenants}
    undeclared = [
        live for name, live in sorted(published.items()) if name not in declared and scope(name)
    ]
    if undeclared and prune:
        existing = set(targets.admin.list_topics(timeout=targets.timeout).topics)
    else:
        existing = set()
    for live in undeclared:
        changes.extend(
            _plan_removal(
                targets, live, existing, prune=prune, delete_data=delete_data, keep_data=keep_data
            )
        )
    return changes


def _plan_removal(
    targets: Targets,
    live: PublishedTenant,
    existing: set[str],
    *,
    prune: bool,
    delete_data: bool,
    keep_data: bool = False,
) -> list[Change]:
    """What removing a published tenant that is no longer declared takes.

    All or nothing: while its topics hold records and `delete_data` is not given, nothing of
    the tenant is removed.
    """
    name = live.name
    if not prune:
        return [
            Change(name, "tenant version", name, "not declared", "published; --prune removes it")
        ]
    admin, timeout = targets.admin, targets.timeout
    records = {} if keep_data else _records(targets, name, existing)
    held_data = sum(records.values())
    if held_data and not delete_data:
        # All or nothing: a half-removed tenant could never be found again to finish the job.
        detail = f"its topics hold {held_data} records; add --delete-data to remove it with them"
        return [Change(name, "tenant version", name, "keep data", detail)]
    changes = [] if keep_data else _plan_data_removal(targets, name, records, delete_data)
    if scram_user_exists(admin, name, timeout):
        changes.append(Change(name, "user", name, "delete"))
    principals = sorted({tenant_principal(live.spec), *live.spec.sources.producers})
    try:
        held = set().union(*(broker_grants(admin, p, timeout) for p in principals))
        held |= {
            g
            for g in broker_grants(admin, FORWARDER_PRINCIPAL, timeout)
            if g.resource_type == "TOPIC" and g.resource == raw_topic(name)
        }
    except NoAuthorizer:
        held = set()
    changes.extend(Change(name, "acl", str(g), "delete", grant=g) for g in sorted(held))
    for principal in principals:
        if targets.quotas.producer_rate(principal.removeprefix("User:")) is not None:
            changes.append(Change(name, "quota", principal, "delete"))
    if targets.quotas.producer_rate(FORWARDER_USER, client_id=name) is not None:
        forwarder = f"{FORWARDER_PRINCIPAL} client.id={name}"
        changes.append(Change(name, "forwarder quota", forwarder, "delete"))
    try:
        if readers.current_role(targets.es, name) is not None:
            changes.append(Change(name, "reader role", reader_role_name(name), "delete"))
        if readers.has_api_key(targets.es, name):
            changes.append(Change(name, "reader key", reader_role_name(name), "delete"))
    except readers.SecurityOff:
        pass
    changes.append(Change(name, "tenant version", name, "delete", f"was {live.version}"))
    return changes


def _records(targets: Targets, name: str, existing: set[str]) -> dict[str, int]:
    """Records held by each of the tenant's topics that exist."""
    return {
        t: _records_in(targets.admin, t, targets.timeout)
        for t in tenant_topics(name)
        if t in existing
    }


def _plan_data_removal(
    targets: Targets, name: str, records: dict[str, int], delete_data: bool
) -> list[Change]:
    """The tenant's topics (`records`: topic -> records held) and template, and with
    `delete_data` its indices."""
    changes = [
        Change(name, "topic", topic, "delete", f"{count} records")
        for topic, count in records.items()
    ]
    template = index_template_name(name)
    if targets.es.indices.exists_index_template(name=template):
        changes.append(Change(name, "index template", template, "delete"))
    if delete_data:
        indices = _indices_of(targets.es, name)
        if indices:
            changes.append(
                Change(name, "indices", index_pattern(name), "delete", f"{len(indices)} indices")
            )
    return changes


def _indices_of(es: Elasticsearch, tenant: str) -> list[str]:
    found = es.indices.get(index=index_pattern(tenant), expand_wildcards="all")
    return sorted(found.body)


def _records_in(admin: AdminClient, topic: str, timeout: float) -> int:
    partitions = admin.list_topics(topic, timeout=timeout).topics[topic].partitions
    tps = [TopicPartition(topic, p) for p in partitions]
    first = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
    end = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    earliest = admin.list_offsets(dict.fromkeys(tps, first), request_timeout=timeout)
    latest = admin.list_offsets(dict.fromkeys(tps, end), request_timeout=timeout)
    return sum(latest[tp].result().offset - earliest[tp].result().offset for tp in tps)


FEW_TOPICS = 30  # up to this many, topics are described by name instead of listing them all


def partition_counts(admin: AdminClient, topics: Sequence[str], timeout: float) -> dict[str, int]:
    """How many partitions each of `topics` that exists has. A few are described by name (on a
    cluster of thousands of topics, listing them all for one tenant costs 25 times as much);
    many are taken from one listing."""
    if len(topics) > FEW_TOPICS:
        listed = admin.list_topics(timeout=timeout).topics
        return {t: len(listed[t].partitions) for t in topics if t in listed}
    found: dict[str, int] = {}
    futures = admin.describe_topics(TopicCollection(list(topics)), request_timeout=timeout)
    for topic, future in futures.items():
        try:
            found[topic] = len(future.result().partitions)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
    return found


def _plan_topics(targets: Targets, tenants: Sequence[Tenant]) -> list[Change]:
    wanted_topics = [topic for tenant in tenants for topic in tenant_topics(tenant.name)]
    existing = partition_counts(targets.admin, wanted_topics, targets.timeout)
    current = _current_configs(targets, list(existing))
    changes: list[Change] = []
    for tenant in tenants:
        wanted = tenant.topics.partitions
        for topic in tenant_topics(tenant.name):
            count = existing.get(topic)
            if count is None:
                changes.append(
                    Change(tenant.name, "topic", topic, "create", f"{wanted} partitions")
                )
                continue
            if count < wanted:
                changes.append(
                    Change(tenant.name, "topic", topic, "grow partitions", f"{count} -> {wanted}")
                )
            elif count > wanted:
                changes.append(
                    Change(
                        tenant.name,
                        "topic",
                        topic,
                        "kept larger",
                        f"has {count} partitions, tenant asks {wanted}; "
                        "Kafka cannot shrink partitions",
                    )
                )
            else:
                changes.append(Change(tenant.name, "topic", topic, "unchanged"))
            differs = {
                key: f"{current.get(topic, {}).get(key)} -> {value}"
                for key, value in topic_configs(tenant, topic, targets.min_insync_replicas).items()
                if current.get(topic, {}).get(key) != value
            }
            if differs:
                detail = ", ".join(f"{k} {v}" for k, v in sorted(differs.items()))
                changes.append(Change(tenant.name, "topic config", topic, "update", detail))
    return changes


def _current_configs(targets: Targets, topics: list[str]) -> dict[str, dict[str, str]]:
    if not topics:
        return {}
    futures = targets.admin.describe_configs(
        [ConfigResource("topic", topic) for topic in topics], request_timeout=targets.timeout
    )
    found: dict[str, dict[str, str]] = {}
    for resource, future in futures.items():
        entries = future.result()
        found[resource.name] = {
            key: entries[key].value for key in MANAGED_TOPIC_CONFIGS if key in entries
        }
    return found


def default_replicas(es: Elasticsearch) -> int:
    """One replica, or none on a single-node cluster (where a replica can never be placed)."""
    data_nodes = int(es.cluster.health()["number_of_data_nodes"])
    return min(1, max(0, data_nodes - 1))


def _plan_templates(targets: Targets, tenants: Sequence[Tenant]) -> list[Change]:
    replicas = default_replicas(targets.es)
    changes = []
    for tenant in tenants:
        name = index_template_name(tenant.name)
        found = targets.es.options(ignore_status=404).indices.get_index_template(name=name)
        templates = found.get("index_templates", [])
        if not templates:
            changes.append(Change(tenant.name, "index template", name, "create"))
        elif _same_template(
            templates[0]["index_template"], index_template(tenant, replicas, targets.source)
        ):
            changes.append(Change(tenant.name, "index template", name, "unchanged"))
        else:
            changes.append(Change(tenant.name, "index template", name, "update"))
    return changes


def _same_template(have: dict[str, Any], want: dict[str, Any]) -> bool:
    settings = have.get("template", {}).get("settings", {}).get("index", {})
    return (
        have.get("index_patterns") == want["index_patterns"]
        and have.get("priority") == want["priority"]
        and str(settings.get("number_of_replicas"))
        == str(want["template"]["settings"]["number_of_replicas"])
        and have.get("template", {}).get("mappings") == want["template"]["mappings"]
        and have.get("_meta") == want["_meta"]
    )


def _plan_access(targets: Targets, tenants: Sequence[Tenant]) -> list[Change]:
    """SCRAM users and ACLs; grants the broker holds that no declaration asks for are reported."""
    admin, timeout = targets.admin, targets.timeout
    changes: list[Change] = []
    for tenant in tenants:
        user = tenant.name
        if scram_user_exists(admin, user, timeout):
            changes.append(Change(tenant.name, "user", user, "unchanged", "SCRAM-SHA-512"))
        else:
            changes.append(Change(tenant.name, "user", user, "create", "SCRAM-SHA-512"))
        wanted = tenant_grants(tenant)
        principals = sorted({g.principal for g in wanted})
        try:
            held = set().union(*(broker_grants(admin, p, timeout) for p in principals))
        except NoAuthorizer:
            changes.append(
                Change(
                    tenant.name,
                    "acl",
                    tenant_principal(tenant),
                    "unsupported",
                    "the broker has no authorizer: tenants are not fenced in",
                )
            )
            continue
        for grant in sorted(wanted):
            action: Action = "unchanged" if grant in held else "create"
            changes.append(Change(tenant.name, "acl", str(grant), action, grant=grant))
        for grant in sorted(held - wanted):
            if superseded(grant, tenant):
                detail = "logway's old group prefix; it also covered other tenants' groups"
                changes.append(
                    Change(tenant.name, "acl", str(grant), "delete", detail, grant=grant)
                )
                continue
            changes.append(
                Change(tenant.name, "acl", str(grant), "not declared", "kept; remove it by hand")
            )
        changes.extend(_plan_quotas(targets, tenant, principals))
        changes.extend(_plan_forwarder_access(targets, tenant))
    return changes


def _plan_forwarder_access(targets: Targets, tenant: Tenant) -> list[Change]:
    """The node forwarder's write on the tenant's raw topic, and the tenant's produce quota on
    (forwarder user, client id <tenant>), while the tenant claims namespaces; revoked after."""
    raw = raw_topic(tenant.name)
    wanted = forwarder_grants(tenant)
    held = {
        g
        for g in broker_grants(targets.admin, FORWARDER_PRINCIPAL, targets.timeout)
        if g.resource_type == "TOPIC" and g.resource == raw
    }
    changes = [
        Change(tenant.name, "acl", str(g), "unchanged" if g in held else "create", grant=g)
        for g in sorted(wanted)
    ]
    changes.extend(
        Change(tenant.name, "acl", str(g), "delete", "claims no namespace now", grant=g)
        for g in sorted(held - wanted)
    )
    name = f"{FORWARDER_PRINCIPAL} client.id={tenant.name}"
    have = targets.quotas.producer_rate(FORWARDER_USER, client_id=tenant.name)
    want = float(tenant.limits.produce_bytes_per_s) if wanted else None
    if have == want:
        if want is not None:
            changes.append(
                Change(tenant.name, "forwarder quota", name, "unchanged", f"{want:.0f} B/s")
            )
    elif want is None:
        changes.append(Change(tenant.name, "forwarder quota", name, "delete"))
    else:
        action: Action = "create" if have is None else "update"
        was = "none" if have is None else f"{have:.0f}"
        detail = f"producer_byte_rate {was} -> {want:.0f}"
        changes.append(Change(tenant.name, "forwarder quota", name, action, detail))
    return changes


def _plan_readers(targets: Targets, tenants: Sequence[Tenant]) -> list[Change]:
    """The Elasticsearch role that reads each tenant's indices only, and its API key."""
    changes: list[Change] = []
    keyed: bool | None = None  # whether the platform logs in with an API key; asked once
    for tenant in tenants:
        name = reader_role_name(tenant.name)
        try:
            have = readers.current_role(targets.es, tenant.name)
        except readers.SecurityOff:
            detail = "Elasticsearch has no security: whoever reaches it reads every index"
            changes.append(Change(tenant.name, "reader role", name, "unsupported", detail))
            continue
        pattern = index_pattern(tenant.name)
        if have is None:
            changes.append(Change(tenant.name, "reader role", name, "create", f"reads {pattern}"))
        elif readers.same_role(have, readers.reader_role(tenant.name)):
            changes.append(Change(tenant.name, "reader role", name, "unchanged", pattern))
        else:
            changes.append(Change(tenant.name, "reader role", name, "update", f"reads {pattern}"))
        if keyed is None:
            keyed = readers.logs_in_with_api_key(targets.es)
        if readers.has_api_key(targets.es, tenant.name):
            changes.append(Change(tenant.name, "reader key", name, "unchanged"))
        elif keyed:
            detail = (
                "the platform logs in with an API key, and Elasticsearch lets an API key make "
                "only keys without privileges: log in as a user (ECK's `elastic`) to have apply "
                f"make reader keys, or map the team's people to the role {name}"
            )
            changes.append(Change(tenant.name, "reader key", name, "unsupported", detail))
        else:
            changes.append(Change(tenant.name, "reader key", name, "create", "API key"))
    return changes


def _plan_quotas(targets: Targets, tenant: Tenant, principals: list[str]) -> list[Change]:
    """Each of the tenant's principals may produce `limits.produce_bytes_per_s` bytes/s."""
    wanted = float(tenant.limits.produce_bytes_per_s)
    changes = []
    for principal in principals:
        have = targets.quotas.producer_rate(principal.removeprefix("User:"))
        if have == wanted:
            changes.append(
                Change(tenant.name, "quota", principal, "unchanged", f"{wanted:.0f} B/s")
            )
        else:
            action: Action = "create" if have is None else "update"
            was = "none" if have is None else f"{have:.0f}"
            detail = f"producer_byte_rate {was} -> {wanted:.0f}"
            changes.append(Change(tenant.name, "quota", principal, action, detail))
    return changes


def _plan_forwarder(
    tenants: Sequence[Tenant], published: dict[str, PublishedTenant]
) -> list[Change]:
    """The node forwarders' routing, namespace -> raw topic, against the published version.

    `apply` does not roll out forwarders: a changed route is `re-render`, for
    `logway render forwarder` and the forwarder DaemonSet's rollout (the Helm chart does both).
    """
    changes = []
    for tenant in tenants:
        want = set(tenant.sources.namespaces)
        live = published.get(tenant.name)
        have = set(live.spec.sources.namespaces) if live else set()
        name = f"{', '.join(sorted(want)) or '(no namespace)'} -> logs.{tenant.name}.raw"
        if want == have:
            changes.append(Change(tenant.name, "forwarder route", name, "unchanged"))
            continue
        added, removed = sorted(want - have), sorted(have - want)
        detail = ", ".join([*(f"+{ns}" for ns in added), *(f"-{ns}" for ns in removed)])
        changes.append(Change(tenant.name, "forwarder route", name, "re-render", detail))
    return changes


def _plan_versions(
    tenants: Sequence[Tenant], published: dict[str, PublishedTenant]
) -> list[Change]:
    changes = []
    for tenant in tenants:
        version = tenant_version(tenant)
        live = published.get(tenant.name)
        if live is None:
            change = Change(
                tenant.name, "tenant version", tenant.name, "publish", f"new: {version}"
            )
        elif live.version != version:
            detail = f"{live.version} -> {version}"
            change = Change(tenant.name, "tenant version", tenant.name, "publish", detail)
        else:
            change = Change(tenant.name, "tenant version", tenant.name, "unchanged", version)
        changes.append(change)
    return changes


# -- apply ---------------------------------------------------------------------------------------


def apply(targets: Targets, tenants: Sequence[Tenant], changes: list[Change]) -> list[Change]:
    """Carry out the pending `changes`; return them all with their `result`."""
    by_name = {t.name: t for t in tenants}
    _ensure_platform_topics(targets)
    replicas = default_replicas(targets.es)
    done: list[Change] = []
    failed_tenants: set[str] = set()
    for change in changes:
        if not change.pending:
            done.append(change)
            continue
        if change.kind == "tenant version":
            continue  # published last, only for tenants whose other changes all succeeded
        tenant = by_name.get(change.tenant)
        if change.action == "delete":
            error, detail = _delete(targets, change)
        else:
            assert tenant is not None  # only declared tenants get non-delete changes
            error, detail = _carry_out(targets, tenant, change, replicas)
        if error:
            failed_tenants.add(change.tenant)
            done.append(replace(change, result="failed", detail=error))
        else:
            done.append(replace(change, result="done", detail=detail or change.detail))
    versions = [c for c in changes if c.kind == "tenant version" and c.pending]
    ready = [
        by_name[c.tenant]
        for c in versions
        if c.action == "publish" and c.tenant not in failed_tenants
    ]
    removed = [
        c.tenant for c in versions if c.action == "delete" and c.tenant not in failed_tenants
    ]
    refused = (
        publish(targets.producer, ready, removed, source=targets.source) if ready or removed else {}
    )
    for change in versions:
        if change.tenant in failed_tenants:
            done.append(replace(change, result="skipped", detail="an earlier change failed"))
        elif change.tenant in refused:
            done.append(replace(change, result="failed", detail=refused[change.tenant]))
        else:
            done.append(replace(change, result="done"))
    return done


def _carry_out(
    targets: Targets, tenant: Tenant, change: Change, replicas: int
) -> tuple[str | None, str]:
    """Do one change; return (what went wrong or None, what to tell about it)."""
    admin, timeout = targets.admin, targets.timeout
    detail = ""
    try:
        if change.kind == "topic" and change.action == "create":
            topic = NewTopic(
                change.name,
                num_partitions=tenant.topics.partitions,
                replication_factor=targets.replication_factor,
                config=topic_configs(tenant, change.name, targets.min_insync_replicas),
            )
            _settle(admin.create_topics([topic], request_timeout=timeout))
        elif change.kind == "topic":
            grow = NewPartitions(change.name, tenant.topics.partitions)
            _settle(admin.create_partitions([grow], request_timeout=timeout))
        elif change.kind == "topic config":
            entries = [
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in topic_configs(
                    tenant, change.name, targets.min_insync_replicas
                ).items()
            ]
            resource = ConfigResource("topic", change.name, incremental_configs=entries)
            _settle(admin.incremental_alter_configs([resource], request_timeout=timeout))
        elif change.kind == "index template":
            targets.es.indices.put_index_template(
                name=change.name, **index_template(tenant, replicas, targets.source)
            )
        elif change.kind == "user":
            path = create_scram_user(admin, tenant.name, targets.credentials_dir, timeout)
            detail = f"credentials in {path}"
        elif change.kind == "acl" and change.grant is not None:
            create_grants(admin, [change.grant], timeout)
        elif change.kind == "quota":
            user = change.name.removeprefix("User:")
            targets.quotas.set_producer_rate(user, tenant.limits.produce_bytes_per_s)
        elif change.kind == "forwarder quota":
            rate = tenant.limits.produce_bytes_per_s
            targets.quotas.set_producer_rate(FORWARDER_USER, rate, client_id=tenant.name)
        elif change.kind == "reader role":
            readers.put_role(targets.es, tenant.name)
        elif change.kind == "reader key":
            path = readers.create_api_key(targets.es, tenant.name, targets.credentials_dir)
            detail = f"API key in {path}"
    except KafkaException as exc:
        return str(exc.args[0].str() if exc.args else exc), ""
    except (ApiError, TransportError, QuotaError) as exc:
        return str(exc), ""
    return None, detail


def _delete(targets: Targets, change: Change) -> tuple[str | None, str]:
    """Carry out one deletion (only ever planned with --prune)."""
    admin, timeout = targets.admin, targets.timeout
    try:
        if change.kind == "topic":
            _settle(admin.delete_topics([change.name], request_timeout=timeout))
        elif change.kind == "index template":
            targets.es.indices.delete_index_template(name=change.name)
        elif change.kind == "indices":  # by name: clusters refuse wildcard deletes by default
            for index in _indices_of(targets.es, change.tenant):
                targets.es.indices.delete(index=index)
        elif change.kind == "user":
            delete_scram_user(admin, change.name, timeout)
        elif change.kind == "acl" and change.grant is not None:
            delete_grants(admin, [change.grant], timeout)
        elif change.kind == "quota":
            targets.quotas.remove_producer_rate(change.name.removeprefix("User:"))
        elif change.kind == "forwarder quota":
            targets.quotas.remove_producer_rate(FORWARDER_USER, client_id=change.tenant)
        elif change.kind == "reader role":
            readers.delete_role(targets.es, change.tenant)
        elif change.kind == "reader key":
            readers.invalidate_api_keys(targets.es, change.tenant)
    except KafkaException as exc:
        return str(exc.args[0].str() if exc.args else exc), ""
    except (ApiError, TransportError, QuotaError) as exc:
        return str(exc), ""
    return None, ""


def _settle(futures: dict[Any, Any]) -> None:
    for future in futures.values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # created concurrently: the state we wanted
            raise


def _ensure_platform_topics(targets: Targets) -> None:
    """`_logway.tenants` (compacted), `_logway.unclaimed` (logs of no tenant's namespace) and
    `_logway.pods` (compacted: the pod watcher's records); once per Targets (and its copies)."""
    if targets._clients.get("platform topics"):
        return
    existing = targets.admin.list_topics(timeout=targets.timeout).topics
    wanted = [
        NewTopic(TENANTS_TOPIC, num_partitions=1, config=TENANTS_TOPIC_CONFIG),
        NewTopic(PODS_TOPIC, num_partitions=1, config=PODS_TOPIC_CONFIG),
        NewTopic(UNCLAIMED_TOPIC, num_partitions=3, config={"retention.ms": str(72 * 3_600_000)}),
    ]
    missing = [topic for topic in wanted if topic.topic not in existing]
    if missing:
        _settle(targets.admin.create_topics(missing, request_timeout=targets.timeout))
    # The node forwarder sends every namespace no tenant claims to _logway.unclaimed.
    unclaimed = [
        Grant(FORWARDER_PRINCIPAL, "TOPIC", UNCLAIMED_TOPIC, "LITERAL", operation)
        for operation in ("WRITE", "DESCRIBE")
    ]
    try:
        if not set(unclaimed) <= broker_grants(targets.admin, FORWARDER_PRINCIPAL, targets.timeout):
            create_grants(targets.admin, unclaimed, targets.timeout)
    except NoAuthorizer:
        pass  # no authorizer: anyone may write it
    targets._clients["platform topics"] = True
