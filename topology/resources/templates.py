"""Each tenant's index template: its indices' settings and mapping, and the name's owner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from logway.core.control import FILES
from logway.core.document import document_mapping
from logway.core.names import INDEX_TEMPLATE_PRIORITY, index_patterns, index_template_name
from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.resources.change import Change, Kind
from topology.resources.kind import FEW, Wanted, each, in_parallel
from topology.targets import Targets


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


def default_replicas(es: Elasticsearch) -> int:
    """One replica, or none on a single-node cluster (where a replica can never be placed)."""
    data_nodes = int(es.cluster.health()["number_of_data_nodes"])
    return min(1, max(0, data_nodes - 1))


@dataclass(frozen=True)
class TemplatesSeen:
    templates: dict[str, dict[str, Any]]  # template name -> as Elasticsearch has it
    replicas: int
    source: str


class Templates:
    kinds: frozenset[Kind] = frozenset({"index template"})

    def observe(self, targets: Targets, wanted: Wanted) -> TemplatesSeen:
        names = [index_template_name(name) for name in wanted.names]
        es = targets.es.options(ignore_status=404)
        if len(names) > FEW:  # one listing of every `logs-*` template
            found = [es.indices.get_index_template(name="logs-*")]
        else:
            found = in_parallel(lambda name: es.indices.get_index_template(name=name), names)
        wanted_names = set(names)
        templates = {
            item["name"]: item["index_template"]
            for answer in found
            for item in (answer.get("index_templates", []) if answer else [])
            if item["name"] in wanted_names
        }
        return TemplatesSeen(templates, default_replicas(targets.es), targets.source)

    def diff(self, wanted: Wanted, seen: TemplatesSeen) -> list[Change]:
        changes = []
        for tenant in wanted.tenants:
            name = index_template_name(tenant.name)
            have = seen.templates.get(name)
            if have is None:
                changes.append(Change(tenant.name, "index template", name, "create"))
            elif same_template(have, index_template(tenant, seen.replicas, seen.source)):
                changes.append(Change(tenant.name, "index template", name, "unchanged"))
            else:
                changes.append(Change(tenant.name, "index template", name, "update"))
        return changes

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: TemplatesSeen) -> list[Change]:
        name = index_template_name(live.name)
        if wanted.keep_data or name not in seen.templates:
            return []
        return [Change(live.name, "index template", name, "delete")]

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        replicas = default_replicas(targets.es) if changes else 0
        indices = targets.es.indices

        def one(change: Change) -> Change:
            if change.action == "delete":
                return each(change, lambda: indices.delete_index_template(name=change.name))
            template = index_template(tenants[change.tenant], replicas, targets.source)
            return each(change, lambda: indices.put_index_template(name=change.name, **template))

        return in_parallel(one, changes)


def same_template(have: dict[str, Any], want: dict[str, Any]) -> bool:
    settings = have.get("template", {}).get("settings", {}).get("index", {})
    return (
        have.get("index_patterns") == want["index_patterns"]
        and have.get("priority") == want["priority"]
        and str(settings.get("number_of_replicas"))
        == str(want["template"]["settings"]["number_of_replicas"])
        and have.get("template", {}).get("mappings") == want["template"]["mappings"]
        and have.get("_meta") == want["_meta"]
    )
