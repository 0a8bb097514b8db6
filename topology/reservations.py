"""A tenant name is never handed, with its data, to another owner.

A tenant removed with its data kept (a LoggingPipeline deleted without
`logway.dev/delete-data`, `logway prune --keep-data`) leaves its topics, its index template and
its indices for a later return. Its reader role and key are made again for whoever declares
the name next, and they read `logs-<tenant>.*`: the kept indices too. So the name stays
reserved for the owner that kept the data (the template's `_meta.owner`: `files`, or
`LoggingPipeline <namespace>/<name>`), and anyone else declaring it is refused, until:

- the data is gone (`logway prune --delete-data`, or the resource deleted with
  `logway.dev/delete-data: "true"`): no template, no reservation; or
- the platform releases the name (`logway release TENANT`): the kept data then goes, with
  the name, to the next owner, by the platform's decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from elasticsearch import Elasticsearch

from logway.core.names import index_pattern, index_template_name
from topology.publish import PublishedTenant

OWNER = "owner"


def reserved_for(es: Elasticsearch, tenant: str) -> str | None:
    """Who the name `tenant` is kept for by its index template, if anyone."""
    found = es.options(ignore_status=404).indices.get_index_template(
        name=index_template_name(tenant)
    )
    for template in found.get("index_templates", []):
        owner = (template["index_template"].get("_meta") or {}).get(OWNER)
        if owner:
            return str(owner)
    return None


def reserved_names(
    es: Elasticsearch,
    tenants: Iterable[str],
    source: str,
    published: Mapping[str, PublishedTenant],
) -> dict[str, str]:
    """Of `tenants`, those reserved for an owner other than `source`, with that owner. A
    published tenant is left to the rule that each tenant is declared in one place. Up to
    `FEW` names are looked up one by one; more, in one listing of the `logs-*` templates."""
    unpublished = [tenant for tenant in tenants if tenant not in published]
    if len(unpublished) > FEW:
        owners = _owners(es)
        kept = {tenant: owners.get(index_template_name(tenant)) for tenant in unpublished}
    else:
        kept = {tenant: reserved_for(es, tenant) for tenant in unpublished}
    return {t: owner for t, owner in kept.items() if owner is not None and owner != source}


FEW = 30


def _owners(es: Elasticsearch) -> dict[str, str]:
    """Every `logs-*` template that keeps a name, with the owner it keeps it for."""
    found = es.options(ignore_status=404).indices.get_index_template(name="logs-*")
    owners = {}
    for template in found.get("index_templates", []) if found else []:
        owner = (template["index_template"].get("_meta") or {}).get(OWNER)
        if owner:
            owners[template["name"]] = str(owner)
    return owners


def reserved_message(tenant: str, owner: str) -> str:
    return (
        f"the name {tenant!r} is reserved for {owner}, which was removed with its data kept "
        f"({index_pattern(tenant)} and its topics), and a new owner's key would read that "
        "data: choose another name, or ask the platform to delete that data or to release the "
        f"name (`logway release {tenant}`)"
    )


def release(es: Elasticsearch, tenant: str) -> str | None:
    """Drop the reservation: the next owner of the name gets the kept data. Returns the owner
    it was kept for (None: it was not reserved)."""
    name = index_template_name(tenant)
    found = es.options(ignore_status=404).indices.get_index_template(name=name)
    for template in found.get("index_templates", []):
        body = template["index_template"]
        meta = dict(body.get("_meta") or {})
        owner = meta.pop(OWNER, None)
        if owner is None:
            return None
        kept = {k: body[k] for k in ("index_patterns", "priority", "template") if k in body}
        es.indices.put_index_template(name=name, **kept, meta=meta)
        return str(owner)
    return None
