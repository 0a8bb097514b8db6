"""Each tenant's published version in `_logway.tenants`: what the workers serve. Published last,
and only for the tenants whose every other change succeeded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from topology.model import Tenant
from topology.publish import PublishedTenant, publish, tenant_version
from topology.resources.change import Change, Kind
from topology.resources.kind import Wanted
from topology.targets import Targets


class Versions:
    kinds: frozenset[Kind] = frozenset({"tenant version"})

    def observe(self, targets: Targets, wanted: Wanted) -> None:
        return None  # `wanted.published` is what the workers read

    def diff(self, wanted: Wanted, seen: None) -> list[Change]:
        changes = []
        for tenant in wanted.tenants:
            version = tenant_version(tenant)
            live = wanted.published.get(tenant.name)
            if live is None:
                changes.append(
                    Change(tenant.name, "tenant version", tenant.name, "publish", f"new: {version}")
                )
            elif live.version != version:
                detail = f"{live.version} -> {version}"
                changes.append(
                    Change(tenant.name, "tenant version", tenant.name, "publish", detail)
                )
            else:
                changes.append(
                    Change(tenant.name, "tenant version", tenant.name, "unchanged", version)
                )
        return changes

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: None) -> list[Change]:
        return [Change(live.name, "tenant version", live.name, "delete", f"was {live.version}")]

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        """Publish (or tombstone) these versions in one go; call it with only the changes of
        tenants whose other changes all succeeded."""
        ready = [tenants[c.tenant] for c in changes if c.action == "publish"]
        removed = [c.tenant for c in changes if c.action == "delete"]
        if not ready and not removed:
            return []
        refused = publish(targets.producer, ready, removed, source=targets.source)
        return [
            change.failed(refused[change.tenant]) if change.tenant in refused else change.done()
            for change in changes
        ]
