"""What tenants leave on the dev servers: found, counted, and swept.

Every test makes tenants with a fresh name prefix and removes what they made when it ends
(`tests/integration/conftest.py`), so a run leaves nothing behind; `logway dev status` says
how many tenant objects there are, and `logway dev sweep` removes those of the tenants a
pattern matches. A tenant object is anything named after a tenant: its topics (and any topic
`logs.<name>.*`), SCRAM user, ACLs (of its principals, and anybody's on its topics and
groups), quotas, reader role and key, indices, index template, published version, and the
consumer groups named after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, fields
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialDeletion,
)
from elasticsearch import Elasticsearch

from logway.core.names import FORWARDER_USER, TENANTS_TOPIC, reader_role_name
from logway.core.settings import Endpoints
from topology.access import Grant, NoAuthorizer, broker_grants
from topology.publish import read_published
from topology.quotas import Entity, QuotaClient

TENANT_TOPIC = re.compile(r"^logs\.([^.]+)\.")
TENANT_INDEX = re.compile(r"^logs-([^.]+)\.")
TENANT_GROUP = re.compile(r"^([^.]+)\.")
READER = reader_role_name("")
PLATFORM_USERS = frozenset({"logway-platform", FORWARDER_USER})


@dataclass(frozen=True)
class TenantObjects:
    """The tenant objects found on the servers, by kind."""

    topics: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    acls: tuple[Grant, ...] = ()
    quotas: tuple[Entity, ...] = ()
    roles: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # API key ids
    indices: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        return {f.name: len(getattr(self, f.name)) for f in fields(self)}

    def __bool__(self) -> bool:
        return any(self.counts().values())

    def describe(self) -> str:
        return ", ".join(f"{count} {kind}" for kind, count in self.counts().items())


def find(endpoints: Endpoints, tenant: Callable[[str], bool]) -> TenantObjects:
    """Every object of the tenants `tenant` says yes to (their names, as the servers hold
    them; a group or principal counts when its name is the tenant's or starts with it)."""
    admin = AdminClient(endpoints.kafka.admin())
    es = endpoints.es.client(request_timeout=60)

    def named(name: str, pattern: re.Pattern[str] | None = None) -> bool:
        match = pattern.match(name) if pattern else None
        return tenant(match.group(1) if match else name)

    topics = tuple(
        sorted(
            t
            for t in admin.list_topics(timeout=30).topics
            if TENANT_TOPIC.match(t) and named(t, TENANT_TOPIC)
        )
    )
    users_future = admin.describe_user_scram_credentials(request_timeout=30)
    assert not isinstance(users_future, dict)
    users = tuple(sorted(u for u in users_future.result() if u not in PLATFORM_USERS and tenant(u)))
    quotas = tuple(
        sorted(
            (
                (user, client_id)
                for user, client_id in QuotaClient(endpoints.kafka).producer_rates()
                if (client_id is None and user not in PLATFORM_USERS and tenant(user))
                or (client_id is not None and tenant(client_id))
            ),
            key=str,
        )
    )
    versions = tuple(sorted(name for name in read_published(endpoints.kafka) if tenant(name)))
    groups = tuple(
        sorted(
            g.group_id
            for g in admin.list_consumer_groups(request_timeout=30).result().valid
            if named(g.group_id, TENANT_GROUP) or tenant(g.group_id)
        )
    )
    return TenantObjects(
        topics=topics,
        users=users,
        acls=tuple(sorted(_grants(admin, named))),
        quotas=quotas,
        roles=tuple(sorted(r for r in _roles(es) if tenant(r.removeprefix(READER)))),
        keys=tuple(sorted(k["id"] for k in _keys(es) if tenant(k["name"].removeprefix(READER)))),
        indices=tuple(sorted(i for i in _indices(es) if named(i, TENANT_INDEX))),
        templates=tuple(sorted(t for t in _templates(es) if tenant(t.removeprefix("logs-")))),
        versions=versions,
        groups=groups,
    )


def sweep(endpoints: Endpoints, tenant: Callable[[str], bool]) -> TenantObjects:
    """Remove every object of the tenants `tenant` says yes to; returns what was removed."""
    found = find(endpoints, tenant)
    admin = AdminClient(endpoints.kafka.admin())
    es = endpoints.es.client(request_timeout=60)
    if found.groups:
        _settle(admin.delete_consumer_groups(list(found.groups), request_timeout=30))
    if found.topics:
        _settle(admin.delete_topics(list(found.topics), operation_timeout=30))
    if found.users:
        deletions: list[UserScramCredentialAlteration] = [
            UserScramCredentialDeletion(u, ScramMechanism.SCRAM_SHA_512) for u in found.users
        ]
        _settle(admin.alter_user_scram_credentials(deletions, request_timeout=30))
    if found.acls:
        _settle(admin.delete_acls([g.filter() for g in found.acls], request_timeout=30))
    if found.quotas:
        QuotaClient(endpoints.kafka).alter_producer_rates(dict.fromkeys(found.quotas), settle_s=0)
    if found.roles:
        es.security.bulk_delete_role(names=list(found.roles))
    if found.keys:
        es.security.invalidate_api_key(ids=list(found.keys))
    for index in found.indices:  # by name: clusters refuse wildcard deletes by default
        es.options(ignore_status=404).indices.delete(index=index)
    for template in found.templates:
        es.options(ignore_status=404).indices.delete_index_template(name=template)
    if found.versions:
        producer = Producer(endpoints.kafka.producer())
        for name in found.versions:
            producer.produce(TENANTS_TOPIC, key=name.encode(), value=None)
        producer.flush(30)
    return found


def _grants(admin: AdminClient, named: Callable[..., bool]) -> set[Grant]:
    """The ALLOW grants of tenant principals, and anybody's on tenant topics and groups."""
    try:
        every = broker_grants(admin, None, 30)
    except NoAuthorizer:
        return set()  # no authorizer: there are no grants
    found = set()
    for grant in every:
        principal = grant.principal.removeprefix("User:")
        tenant_resource = (
            grant.resource_type == "TOPIC" and named(grant.resource, TENANT_TOPIC)
        ) or (grant.resource_type == "GROUP" and named(grant.resource, TENANT_GROUP))
        if tenant_resource or (principal not in PLATFORM_USERS and named(principal)):
            found.add(grant)
    return found


def _roles(es: Elasticsearch) -> list[str]:
    return [name for name in es.security.get_role() if name.startswith(READER)]


def _keys(es: Elasticsearch) -> list[dict[str, str]]:
    found = es.options(ignore_status=404).security.get_api_key(name=f"{READER}*", active_only=True)
    return list(found.get("api_keys", [])) if found else []


def _indices(es: Elasticsearch) -> list[str]:
    return list(es.indices.get(index="logs-*", expand_wildcards="all", allow_no_indices=True))


def _templates(es: Elasticsearch) -> list[str]:
    found = es.options(ignore_status=404).indices.get_index_template(name="logs-*")
    return [
        t["name"]
        for t in (found.get("index_templates", []) if found else [])
        if (t["index_template"].get("_meta") or {}).get("managed_by") == "logway"
    ]


# What is gone already (removed meanwhile) is what a sweep wants.
GONE = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.GROUP_ID_NOT_FOUND,
        KafkaError.RESOURCE_NOT_FOUND,
        KafkaError.NON_EMPTY_GROUP,  # a worker still in it: its offsets go with its last member
    }
)


def _settle(futures: Mapping[Any, Future[Any]]) -> None:
    for future in futures.values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() not in GONE:
                raise
