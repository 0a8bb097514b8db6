"""A pruned tenant's indices, deleted with `--delete-data` only: its data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from elasticsearch import Elasticsearch

from logway.core.names import index_pattern
from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.resources.change import Change, Kind
from topology.resources.kind import Wanted, each, in_parallel
from topology.targets import Targets


def indices_of(es: Elasticsearch, tenant: str) -> list[str]:
    """Every index of the tenant, open or closed, by name."""
    found = es.indices.get(index=index_pattern(tenant), expand_wildcards="all")
    return sorted(found.body)


@dataclass(frozen=True)
class IndicesSeen:
    indices: dict[str, list[str]]  # pruned tenant -> its indices (with --delete-data only)


class Indices:
    kinds: frozenset[Kind] = frozenset({"indices"})

    def observe(self, targets: Targets, wanted: Wanted) -> IndicesSeen:
        if not wanted.delete_data or wanted.keep_data:
            return IndicesSeen({})
        names = [live.name for live in wanted.pruned]
        found = in_parallel(lambda name: indices_of(targets.es, name), names)
        return IndicesSeen(dict(zip(names, found, strict=True)))

    def diff(self, wanted: Wanted, seen: IndicesSeen) -> list[Change]:
        return []  # a declared tenant's indices are the sink's to make

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: IndicesSeen) -> list[Change]:
        found = seen.indices.get(live.name)
        if not found:
            return []
        return [
            Change(
                live.name, "indices", index_pattern(live.name), "delete", f"{len(found)} indices"
            )
        ]

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        def one(change: Change) -> Change:
            def delete() -> None:  # by name: clusters refuse wildcard deletes by default
                for index in indices_of(targets.es, change.tenant):
                    targets.es.indices.delete(index=index)

            return each(change, delete)

        return in_parallel(one, changes)
