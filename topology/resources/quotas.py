"""How fast each tenant may produce: a quota on each of its principals, and one on the node
forwarder's login for the tenant's client id while it claims namespaces."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from logway.core.names import FORWARDER_USER
from topology.access import FORWARDER_PRINCIPAL
from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.quotas import Entity
from topology.resources.acls import principals_of
from topology.resources.change import Action, Change, Kind
from topology.resources.kind import Wanted, server_error
from topology.targets import Targets


@dataclass(frozen=True)
class QuotasSeen:
    rates: dict[Entity, float]  # (user, client id or None) -> producer_byte_rate


class Quotas:
    kinds: frozenset[Kind] = frozenset({"quota", "forwarder quota"})

    def observe(self, targets: Targets, wanted: Wanted) -> QuotasSeen:
        if not wanted.names:
            return QuotasSeen({})
        return QuotasSeen(targets.quotas.producer_rates())

    def diff(self, wanted: Wanted, seen: QuotasSeen) -> list[Change]:
        changes: list[Change] = []
        for tenant in wanted.tenants:
            rate = float(tenant.limits.produce_bytes_per_s)
            for principal in principals_of(tenant):
                have = seen.rates.get((principal.removeprefix("User:"), None))
                changes.append(_quota(tenant.name, "quota", principal, have, rate))
            name = f"{FORWARDER_PRINCIPAL} client.id={tenant.name}"
            have = seen.rates.get((FORWARDER_USER, tenant.name))
            want = rate if tenant.sources.namespaces else None
            if want is None:
                if have is not None:
                    changes.append(Change(tenant.name, "forwarder quota", name, "delete"))
                continue
            changes.append(_quota(tenant.name, "forwarder quota", name, have, want))
        return changes

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: QuotasSeen) -> list[Change]:
        changes = [
            Change(live.name, "quota", principal, "delete")
            for principal in principals_of(live.spec)
            if (principal.removeprefix("User:"), None) in seen.rates
        ]
        if (FORWARDER_USER, live.name) in seen.rates:
            forwarder = f"{FORWARDER_PRINCIPAL} client.id={live.name}"
            changes.append(Change(live.name, "forwarder quota", forwarder, "delete"))
        return changes

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        if not changes:
            return []
        rates: dict[Entity, float | None] = {}
        entities = []
        for change in changes:
            entity = _entity_of(change)
            tenant = tenants.get(change.tenant)
            if change.action == "delete" or tenant is None:
                rates[entity] = None
            else:
                rates[entity] = float(tenant.limits.produce_bytes_per_s)
            entities.append(entity)
        try:
            errors = targets.quotas.alter_producer_rates(rates)
        except Exception as exc:
            error = server_error(exc)
            if error is None:
                raise
            return [change.failed(error) for change in changes]
        return [
            change.failed(errors[entity]) if entity in errors else change.done()
            for change, entity in zip(changes, entities, strict=True)
        ]


def _quota(tenant: str, kind: Kind, name: str, have: float | None, want: float) -> Change:
    if have == want:
        return Change(tenant, kind, name, "unchanged", f"{want:.0f} B/s")
    action: Action = "create" if have is None else "update"
    was = "none" if have is None else f"{have:.0f}"
    return Change(tenant, kind, name, action, f"producer_byte_rate {was} -> {want:.0f}")


def _entity_of(change: Change) -> Entity:
    if change.kind == "forwarder quota":
        return (FORWARDER_USER, change.tenant)
    return (change.name.removeprefix("User:"), None)
