"""The ACLs that fence each tenant in: its principals' grants, and the node forwarder's write
on its raw topic while it claims namespaces (see `topology.access`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException

from logway.core.names import raw_topic
from topology.access import (
    FORWARDER_PRINCIPAL,
    Grant,
    NoAuthorizer,
    broker_grants,
    forwarder_grants,
    superseded,
    tenant_grants,
    tenant_principal,
)
from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.resources.change import Action, Change, Kind
from topology.resources.kind import FEW, Wanted, batches, in_parallel, server_error
from topology.targets import Targets


@dataclass(frozen=True)
class AclsSeen:
    grants: dict[str, frozenset[Grant]]  # principal -> the ALLOW grants the broker holds
    authorizer: bool = True  # False: the broker has none, nothing can be fenced in

    def of(self, *principals: str) -> set[Grant]:
        return set().union(*(self.grants.get(p, frozenset()) for p in principals))

    def forwarder_on(self, tenant: str) -> set[Grant]:
        """The node forwarder's grants on the tenant's raw topic."""
        raw = raw_topic(tenant)
        return {
            g
            for g in self.grants.get(FORWARDER_PRINCIPAL, frozenset())
            if g.resource_type == "TOPIC" and g.resource == raw
        }


def principals_of(tenant: Tenant) -> list[str]:
    return sorted({tenant_principal(tenant), *tenant.sources.producers})


class Acls:
    kinds: frozenset[Kind] = frozenset({"acl"})

    def observe(self, targets: Targets, wanted: Wanted) -> AclsSeen:
        principals = sorted(
            {
                FORWARDER_PRINCIPAL,
                *(p for t in wanted.tenants for p in principals_of(t)),
                *(p for live in wanted.removed for p in principals_of(live.spec)),
            }
        )
        try:
            if len(principals) > FEW:
                return AclsSeen(_every_grant(targets))
            found = in_parallel(
                lambda p: frozenset(broker_grants(targets.admin, p, targets.timeout)), principals
            )
        except NoAuthorizer:
            return AclsSeen({}, authorizer=False)
        return AclsSeen(dict(zip(principals, found, strict=True)))

    def diff(self, wanted: Wanted, seen: AclsSeen) -> list[Change]:
        changes: list[Change] = []
        for tenant in wanted.tenants:
            if not seen.authorizer:
                detail = "the broker has no authorizer: tenants are not fenced in"
                principal = tenant_principal(tenant)
                changes.append(Change(tenant.name, "acl", principal, "unsupported", detail))
                continue
            want = tenant_grants(tenant)
            held = seen.of(*principals_of(tenant))
            for grant in sorted(want):
                action: Action = "unchanged" if grant in held else "create"
                changes.append(Change(tenant.name, "acl", str(grant), action, grant=grant))
            for grant in sorted(held - want):
                if superseded(grant, tenant):
                    detail = "logway's old group prefix; it also covered other tenants' groups"
                    changes.append(
                        Change(tenant.name, "acl", str(grant), "delete", detail, grant=grant)
                    )
                else:
                    detail = "kept; remove it by hand"
                    changes.append(
                        Change(tenant.name, "acl", str(grant), "not declared", detail, grant=grant)
                    )
            changes.extend(_forwarder(tenant, seen))
        return changes

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: AclsSeen) -> list[Change]:
        held = seen.of(*principals_of(live.spec)) | seen.forwarder_on(live.name)
        return [Change(live.name, "acl", str(g), "delete", grant=g) for g in sorted(held)]

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        admin, timeout = targets.admin, max(targets.timeout, 60.0)
        done: list[Change] = []
        creates = [c for c in changes if c.action == "create" and c.grant is not None]
        for batch in batches(creates):
            bindings = {c.grant.binding() for c in batch if c.grant is not None}
            made = admin.create_acls(list(bindings), request_timeout=timeout)
            done += _settled(batch, {g: made[g.binding()] for g in _grants(batch)})
        deletes = [c for c in changes if c.action == "delete" and c.grant is not None]
        for batch in batches(deletes):
            filters = {c.grant.filter() for c in batch if c.grant is not None}
            gone = admin.delete_acls(list(filters), request_timeout=timeout)
            done += _settled(batch, {g: gone[g.filter()] for g in _grants(batch)})
        return done


def _forwarder(tenant: Tenant, seen: AclsSeen) -> list[Change]:
    want = forwarder_grants(tenant)
    held = seen.forwarder_on(tenant.name)
    changes = [
        Change(tenant.name, "acl", str(g), "unchanged" if g in held else "create", grant=g)
        for g in sorted(want)
    ]
    changes.extend(
        Change(tenant.name, "acl", str(g), "delete", "claims no namespace now", grant=g)
        for g in sorted(held - want)
    )
    return changes


def _every_grant(targets: Targets) -> dict[str, frozenset[Grant]]:
    """Every ALLOW grant the broker holds, by principal: one request."""
    found: dict[str, set[Grant]] = {}
    for grant in broker_grants(targets.admin, None, targets.timeout):
        found.setdefault(grant.principal, set()).add(grant)
    return {principal: frozenset(grants) for principal, grants in found.items()}


def _grants(changes: Sequence[Change]) -> set[Grant]:
    return {c.grant for c in changes if c.grant is not None}


def _settled(changes: Sequence[Change], futures: Mapping[Grant, Future[Any]]) -> list[Change]:
    """Each change with the outcome of its grant's request."""
    done = []
    for change in changes:
        assert change.grant is not None
        try:
            futures[change.grant].result()
        except KafkaException as exc:
            done.append(change.failed(server_error(exc) or str(exc)))
            continue
        done.append(change.done())
    return done
