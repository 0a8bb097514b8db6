"""The node forwarders' routing, namespace -> raw topic, against the published version.

`apply` does not roll out forwarders: a changed route is `re-render`, for `logway render
forwarder` and the forwarder DaemonSet's rollout (the Helm chart does both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.resources.change import Change, Kind
from topology.resources.kind import Wanted
from topology.targets import Targets


class Routes:
    kinds: frozenset[Kind] = frozenset({"forwarder route"})

    def observe(self, targets: Targets, wanted: Wanted) -> None:
        return None  # the published versions say it

    def diff(self, wanted: Wanted, seen: None) -> list[Change]:
        changes = []
        for tenant in wanted.tenants:
            want = set(tenant.sources.namespaces)
            live = wanted.published.get(tenant.name)
            have = set(live.spec.sources.namespaces) if live else set()
            name = f"{', '.join(sorted(want)) or '(no namespace)'} -> logs.{tenant.name}.raw"
            if want == have:
                changes.append(Change(tenant.name, "forwarder route", name, "unchanged"))
                continue
            added, removed = sorted(want - have), sorted(have - want)
            detail = ", ".join([*(f"+{ns}" for ns in added), *(f"-{ns}" for ns in removed)])
            changes.append(Change(tenant.name, "forwarder route", name, "re-render", detail))
        return changes

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: None) -> list[Change]:
        return []

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        return [change.done() for change in changes]  # never pending
