"""Plan and apply tenants: one loop over the kinds of object each tenant has on the servers.

`plan` observes what the servers hold for every tenant concerned (each kind in as few
requests as it takes, all kinds at once), then compares it with the declarations without
another request; `apply` carries out exactly that plan, each kind's changes in batches, in
the order of `KINDS`. Each change belongs to one tenant; a tenant's new version is published
only if all its other changes succeeded, so a failure leaves that tenant at its last good
version while every other tenant goes ahead. Nothing is ever deleted (but for grants logway
itself made and no longer wants) without `prune`, and partitions only grow (Kafka cannot
shrink them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.cimpl import NewTopic

from logway.core.control import TENANTS_TOPIC_CONFIG
from logway.core.kubernetes import PODS_TOPIC, PODS_TOPIC_CONFIG
from logway.core.names import TENANTS_TOPIC, tenant_topics
from topology.access import FORWARDER_PRINCIPAL, Grant, NoAuthorizer, broker_grants, create_grants
from topology.forwarder import UNCLAIMED_TOPIC
from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.resources.acls import Acls
from topology.resources.change import Change
from topology.resources.indices import Indices
from topology.resources.keys import Keys
from topology.resources.kind import ResourceKind, Wanted
from topology.resources.quotas import Quotas
from topology.resources.roles import Roles
from topology.resources.routes import Routes
from topology.resources.templates import Templates
from topology.resources.topics import Topics
from topology.resources.users import Users
from topology.resources.versions import Versions
from topology.targets import Targets

TOPICS, VERSIONS = Topics(), Versions()
# In the order apply carries them out; the versions come last, for the tenants all went well.
KINDS: tuple[ResourceKind[Any], ...] = (
    TOPICS,
    Templates(),
    Indices(),
    Users(),
    Acls(),
    Quotas(),
    Roles(),
    Keys(),
    Routes(),
    VERSIONS,
)


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
    declared = {t.name for t in tenants}
    removed = tuple(
        live for name, live in sorted(published.items()) if name not in declared and scope(name)
    )
    wanted = Wanted(tuple(tenants), removed, published, prune, delete_data, keep_data)
    seen = observe(targets, wanted)
    changes = [change for kind in KINDS for change in kind.diff(wanted, seen[kind])]
    if prune:
        changes = [
            replace(c, action="delete", detail="") if c.action == "not declared" else c
            for c in changes
        ]
    for live in removed:
        changes.extend(_removal(live, wanted, seen))
    return changes


def observe(targets: Targets, wanted: Wanted) -> dict[ResourceKind[Any], Any]:
    """What every kind holds on the servers for `wanted`, all kinds asked at once."""
    with ThreadPoolExecutor(len(KINDS), "observe") as pool:
        futures = {kind: pool.submit(kind.observe, targets, wanted) for kind in KINDS}
        return {kind: future.result() for kind, future in futures.items()}


def _removal(
    live: PublishedTenant, wanted: Wanted, seen: dict[ResourceKind[Any], Any]
) -> list[Change]:
    """What removing a published tenant that is no longer declared takes. All or nothing:
    while its topics hold records and `delete_data` is not given, nothing of it is removed (a
    half-removed tenant could never be found again to finish the job)."""
    name = live.name
    if not wanted.prune:
        return [
            Change(name, "tenant version", name, "not declared", "published; --prune removes it")
        ]
    records = seen[TOPICS].records
    held = sum(records.get(topic, 0) for topic in tenant_topics(name))
    if held and not wanted.delete_data:
        detail = f"its topics hold {held} records; add --delete-data to remove it with them"
        return [Change(name, "tenant version", name, "keep data", detail)]
    return [change for kind in KINDS for change in kind.removal(live, wanted, seen[kind])]


def apply(targets: Targets, tenants: Sequence[Tenant], changes: list[Change]) -> list[Change]:
    """Carry out the pending `changes`, kind by kind; return them all with their `result`."""
    by_name = {t.name: t for t in tenants}
    ensure_platform_topics(targets)
    done = [change for change in changes if not change.pending]
    failed: set[str] = set()
    order = {_identity(change): n for n, change in enumerate(changes)}
    for kind in KINDS:
        pending = [c for c in changes if c.pending and c.kind in kind.kinds]
        if kind is VERSIONS:
            done += [
                replace(c, result="skipped", detail="an earlier change failed")
                for c in pending
                if c.tenant in failed
            ]
            pending = [c for c in pending if c.tenant not in failed]
        results = kind.carry_out(targets, by_name, pending) if pending else []
        failed |= {c.tenant for c in results if c.result == "failed"}
        done += results
    return sorted(done, key=lambda change: order[_identity(change)])


def _identity(change: Change) -> tuple[str, str, str, str]:
    """What tells a plan's changes apart, whatever their result."""
    return (change.tenant, change.kind, change.name, change.action)


def ensure_platform_topics(targets: Targets) -> None:
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
        made = targets.admin.create_topics(missing, request_timeout=targets.timeout)
        for future in made.values():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise  # else created concurrently: the state we wanted
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
