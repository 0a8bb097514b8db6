"""Each tenant's reader API key: a key of the platform's login limited to the tenant's reader
role, written for its owners (see `topology.readers`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from logway.core.names import reader_role_name
from topology import readers
from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.resources.change import Change, Kind
from topology.resources.kind import FEW, Wanted, each, in_parallel
from topology.targets import Targets


@dataclass(frozen=True)
class KeysSeen:
    keyed: frozenset[str]  # tenants with a valid reader key
    security: bool = True
    platform_key: bool = False  # the platform logs in with an API key: it cannot make these


class Keys:
    kinds: frozenset[Kind] = frozenset({"reader key"})

    def observe(self, targets: Targets, wanted: Wanted) -> KeysSeen:
        names = wanted.names
        if not names:
            return KeysSeen(frozenset())
        try:
            readers.roles_of(targets.es, names[:1])  # SecurityOff on a cluster without it
        except readers.SecurityOff:
            return KeysSeen(frozenset(), security=False)
        es = targets.es
        if len(names) > FEW:
            keyed = readers.keyed_tenants(es) & set(names)
        else:
            found = in_parallel(lambda name: readers.has_api_key(es, name), names)
            keyed = {name for name, has in zip(names, found, strict=True) if has}
        new = any(t.name not in keyed for t in wanted.tenants)
        return KeysSeen(frozenset(keyed), platform_key=new and readers.logs_in_with_api_key(es))

    def diff(self, wanted: Wanted, seen: KeysSeen) -> list[Change]:
        if not seen.security:
            return []  # the reader role says it: there is no security
        changes = []
        for tenant in wanted.tenants:
            name = reader_role_name(tenant.name)
            if tenant.name in seen.keyed:
                changes.append(Change(tenant.name, "reader key", name, "unchanged"))
            elif seen.platform_key:
                detail = (
                    "the platform logs in with an API key, and Elasticsearch lets an API key "
                    "make only keys without privileges: log in as a user (ECK's `elastic`) to "
                    f"have apply make reader keys, or map the team's people to the role {name}"
                )
                changes.append(Change(tenant.name, "reader key", name, "unsupported", detail))
            else:
                changes.append(Change(tenant.name, "reader key", name, "create", "API key"))
        return changes

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: KeysSeen) -> list[Change]:
        if live.name not in seen.keyed:
            return []
        return [Change(live.name, "reader key", reader_role_name(live.name), "delete")]

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        """Keys are made without waiting for the security index's refresh (a second each),
        all but the last, which waits for it: once it is back, every new key is found."""
        es, folder = targets.es, targets.credentials_dir

        def one(change: Change, refresh: bool | str = False) -> Change:
            if change.action == "delete":
                return each(change, lambda: readers.invalidate_api_keys(es, change.tenant))

            def make() -> str:
                path = readers.create_api_key(es, change.tenant, folder, refresh=refresh)
                return f"API key in {path}"

            return each(change, make)

        if not changes:
            return []
        # Deletions first, so that the last change, which waits for the refresh, makes a key.
        *first, last = sorted(changes, key=lambda change: change.action != "delete")
        return [*in_parallel(one, first), one(last, "wait_for")]
