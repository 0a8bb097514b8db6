"""Each tenant's reader role: reads its indices (`logs-<tenant>.*`) and nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from logway.core.names import index_pattern, reader_role_name
from topology import readers
from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.resources.change import Change, Kind
from topology.resources.kind import Wanted, batches, server_error
from topology.targets import Targets


@dataclass(frozen=True)
class RolesSeen:
    roles: dict[str, dict[str, Any]]  # tenant -> its reader role as the cluster has it
    security: bool = True  # False: the cluster has no security, whoever reaches it reads all


class Roles:
    kinds: frozenset[Kind] = frozenset({"reader role"})

    def observe(self, targets: Targets, wanted: Wanted) -> RolesSeen:
        try:
            return RolesSeen(readers.roles_of(targets.es, wanted.names))
        except readers.SecurityOff:
            return RolesSeen({}, security=False)

    def diff(self, wanted: Wanted, seen: RolesSeen) -> list[Change]:
        changes = []
        for tenant in wanted.tenants:
            name = reader_role_name(tenant.name)
            pattern = index_pattern(tenant.name)
            have = seen.roles.get(tenant.name)
            if not seen.security:
                detail = "Elasticsearch has no security: whoever reaches it reads every index"
                changes.append(Change(tenant.name, "reader role", name, "unsupported", detail))
            elif have is None:
                changes.append(
                    Change(tenant.name, "reader role", name, "create", f"reads {pattern}")
                )
            elif readers.same_role(have, readers.reader_role(tenant.name)):
                changes.append(Change(tenant.name, "reader role", name, "unchanged", pattern))
            else:
                changes.append(
                    Change(tenant.name, "reader role", name, "update", f"reads {pattern}")
                )
        return changes

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: RolesSeen) -> list[Change]:
        if live.name not in seen.roles:
            return []
        return [Change(live.name, "reader role", reader_role_name(live.name), "delete")]

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        security = targets.es.security
        done: list[Change] = []
        puts = [c for c in changes if c.action != "delete"]
        for batch in batches(puts):
            roles = {c.name: readers.reader_role(c.tenant) for c in batch}
            done += _settled(batch, lambda roles=roles: security.bulk_put_role(roles=roles))
        deletes = [c for c in changes if c.action == "delete"]
        for batch in batches(deletes):
            names = [c.name for c in batch]
            done += _settled(batch, lambda names=names: security.bulk_delete_role(names=names))
        return done


def _settled(changes: Sequence[Change], request: Any) -> list[Change]:
    """Each change of one bulk role request, failed with the reason the answer gives it."""
    try:
        answer = request()
    except Exception as exc:
        error = server_error(exc)
        if error is None:
            raise
        return [change.failed(error) for change in changes]
    details = (answer.get("errors") or {}).get("details") or {}
    done = []
    for change in changes:
        refused = details.get(change.name)
        if refused:
            done.append(change.failed(f"{refused.get('type')}: {refused.get('reason')}"))
        else:
            done.append(change.done())
    return done
