"""Declared tenants against the live state: what files alone cannot show.

- **Claims.** A namespace, producer principal or forward shared key belongs to one tenant. The
  files given to one run are checked against each other when they load; here they are checked
  against what is published in `_logway.tenants`, so a new file cannot take over an applied
  tenant's logs by being checked on its own. A published tenant gives up a claim only by being
  declared, valid, without it in the same run.
- **The platform's principal.** No tenant may claim the principal logway itself logs in as.
- **Partitions.** Kafka cannot shrink a topic, so a tenant declaring fewer partitions than its
  topics have is refused: applied, it would publish a version that says what is not true.
- **The platform's ceilings** (`topology.ceilings`): a tenant declaring more than the platform
  allows (its limits, partitions, storage) is refused.
- **Reserved names** (`topology.reservations`): a name whose data was kept for another owner
  is refused.

`validate --online`, `plan` and `apply` run these checks; a refused tenant is left at its last
good version.
"""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka.admin import AdminClient
from elasticsearch import Elasticsearch

from logway.core.control import FILES
from logway.core.kafka import KafkaConnection
from logway.core.names import tenant_topics
from topology.ceilings import Ceilings, over_ceilings
from topology.load import ConfigError, LoadResult, claims_of
from topology.model import Tenant
from topology.publish import PublishedTenant, read_published
from topology.reservations import reserved_message, reserved_names


def check_servers(
    result: LoadResult,
    admin: AdminClient,
    kafka: KafkaConnection,
    timeout: float,
    ceilings: Ceilings | None = None,
    *,
    es: Elasticsearch | None = None,
) -> dict[str, PublishedTenant]:
    """`check_live` against what the servers hold now (the reserved names too, given `es`);
    returns the published tenants (for the plan). Raises KafkaException when Kafka cannot say,
    ApiError or TransportError when Elasticsearch cannot."""
    published = read_published(kafka)
    topics = admin.list_topics(timeout=timeout).topics
    partitions = {name: len(meta.partitions) for name, meta in topics.items()}
    names = [loaded.tenant.name for loaded in result.tenants]
    reserved = reserved_names(es, names, FILES, published) if es is not None else {}
    check_live(result, published, partitions, kafka.username, ceilings=ceilings, reserved=reserved)
    return published


def check_live(
    result: LoadResult,
    published: Mapping[str, PublishedTenant],
    partitions: Mapping[str, int],
    platform_user: str | None = None,
    *,
    source: str = FILES,
    adopt: bool = False,
    ceilings: Ceilings | None = None,
    reserved: Mapping[str, str] | None = None,
) -> list[ConfigError]:
    """Refuse the tenants of `result` whose claims a published tenant holds, that claim the
    principal the platform itself logs in as (`platform_user`), that declare fewer
    partitions than their topics have (`partitions`: topic -> count), or that another source
    publishes (each tenant is declared in one place: files, or one LoggingPipeline; with
    `adopt`, a tenant published from files may be taken over), or that declare more than the
    platform's `ceilings`, or whose name is `reserved` (tenant -> the owner that kept its
    data, `topology.reservations`). The refused are taken out of
    `result.tenants`; their errors are added to `result.errors` and returned."""
    found: list[ConfigError] = [
        loaded.error(
            loc,
            f"{value} is the principal logway itself logs in to Kafka as: a tenant's quota "
            "and ACLs on it would reach every tenant",
            "online",
        )
        for loaded in result.tenants
        for kind, value, loc in claims_of(loaded.tenant)
        if platform_user and kind == "producer principal" and value == f"User:{platform_user}"
    ]
    for loaded in result.tenants:
        live = published.get(loaded.tenant.name)
        if live is not None and live.source != source and not (adopt and live.source == FILES):
            found.append(loaded.error(("name",), _elsewhere(live), "online"))
    for loaded in result.tenants:
        keeper = (reserved or {}).get(loaded.tenant.name)
        if keeper is not None:
            found.append(
                loaded.error(("name",), reserved_message(loaded.tenant.name, keeper), "online")
            )
    for loaded in result.tenants:
        shrinks = shrink(loaded.tenant, partitions)
        if shrinks is not None:
            found.append(loaded.error(("topics", "partitions"), shrinks, "online"))
    if ceilings is not None:
        found += [
            loaded.error(loc, message, "online")
            for loaded in result.tenants
            for loc, message in over_ceilings(loaded.tenant, ceilings)
        ]
    refused = {error.tenant for error in found}
    while True:  # a refused tenant's published claims stand again: check until nothing changes
        accepted = {t.tenant.name for t in result.tenants if t.tenant.name not in refused}
        owners = {
            (kind, value): live
            for name, live in published.items()
            if name not in accepted
            for kind, value, _loc in claims_of(live.spec)
        }
        more = [
            loaded.error(
                loc,
                f"{kind} {value!r} belongs to the applied tenant {owner.name!r} (version "
                f"{owner.version}); each belongs to one tenant. Ask its owners "
                f"({owner.spec.owners.team}, {owner.spec.owners.slack_channel}) to release it "
                "first, or apply both tenants' files together",
                "online",
            )
            for loaded in result.tenants
            if loaded.tenant.name not in refused
            for kind, value, loc in claims_of(loaded.tenant)
            if (owner := owners.get((kind, value))) is not None and owner.name != loaded.tenant.name
        ]
        if not more:
            break
        found += more
        refused |= {error.tenant for error in more}
    result.errors += found
    result.tenants = [t for t in result.tenants if t.tenant.name not in refused]
    return found


def shrink(tenant: Tenant, partitions: Mapping[str, int]) -> str | None:
    """Why `tenant` may not declare its partitions (None: it may): fewer than its topics have
    (`partitions`: topic -> count)."""
    have = max(partitions.get(topic, 0) for topic in tenant_topics(tenant.name))
    if have <= tenant.topics.partitions:
        return None
    return (
        f"the tenant's topics have {have} partitions and Kafka cannot shrink a topic: "
        f"declare {have} or more"
    )


def _elsewhere(live: PublishedTenant) -> str:
    if live.source == FILES:
        return (
            f"tenant {live.name!r} is published from files by `logway apply`; remove it there "
            "(or, to move it to this resource, the platform lists it in the annotation "
            "logway.dev/adopt of this resource's namespace)"
        )
    return (
        f"tenant {live.name!r} is declared by {live.source}; change it there, or delete that "
        "resource first: each tenant is declared in one place"
    )
