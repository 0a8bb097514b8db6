"""The names other systems and people depend on: topics and indices per tenant.

These are contracts (see docs/architecture in the README): changing one strands data.
"""

from __future__ import annotations

import re
from datetime import date

TENANT_NAME = r"[a-z][a-z0-9-]{1,30}"
TENANT_NAME_RE = re.compile(rf"^{TENANT_NAME}$")

RAW_TOPIC_RE = re.compile(rf"^logs\.({TENANT_NAME})\.raw$")
PROCESSED_TOPIC_RE = re.compile(rf"^logs\.({TENANT_NAME})\.processed$")
DLQ_TOPIC_RE = re.compile(rf"^logs\.({TENANT_NAME})\.dlq$")
TENANTS_TOPIC = "_logway.tenants"
# The one Kafka user every node's forwarder logs in as (a Strimzi KafkaUser of that name); each
# tenant's output uses the tenant's name as client id, and the quota is on that pair.
FORWARDER_USER = "logway-forwarder"
ROUTE_NAME = r"[a-z][a-z0-9_]{0,31}"
ROUTE_NAME_RE = re.compile(rf"^{ROUTE_NAME}$")
DEFAULT_ROUTE = "default"


def raw_topic(tenant: str) -> str:
    return f"logs.{tenant}.raw"


def processed_topic(tenant: str) -> str:
    return f"logs.{tenant}.processed"


def dlq_topic(tenant: str) -> str:
    return f"logs.{tenant}.dlq"


def tenant_topics(tenant: str) -> tuple[str, str, str]:
    """The raw, processed and dead-letter topics of a tenant, in that order."""
    return raw_topic(tenant), processed_topic(tenant), dlq_topic(tenant)


def tenant_of_topic(topic: str) -> str | None:
    """The tenant a `logs.<tenant>.{raw,processed,dlq}` topic belongs to, else None."""
    for pattern in (RAW_TOPIC_RE, PROCESSED_TOPIC_RE, DLQ_TOPIC_RE):
        match = pattern.match(topic)
        if match:
            return match.group(1)
    return None


def index_name(tenant: str, day: date, route: str = DEFAULT_ROUTE) -> str:
    """A route's daily index: `logs-<tenant>.<route>-<yyyy.mm.dd>`, e.g.
    `logs-acme.default-2026.03.07`.

    Tenant names cannot contain '.', so the '.' after the name ends it: no tenant's index,
    and no pattern over one tenant's indices, is another tenant's (`acme` and `acme-x`).
    """
    return f"{index_family(tenant, route)}-{day:%Y.%m.%d}"


def index_family(tenant: str, route: str = DEFAULT_ROUTE) -> str:
    """The daily indices of one route, less the day: `logs-<tenant>.<route>`."""
    return f"logs-{tenant}.{route}"


def index_patterns(tenant: str) -> list[str]:
    """The wildcard over all of a tenant's indices, as a list (the template's form)."""
    return [index_pattern(tenant)]


def index_pattern(tenant: str) -> str:
    """All of a tenant's indices, every route and day: `logs-<tenant>.*`, which never matches
    another tenant's (tenant names cannot contain '.')."""
    return f"logs-{tenant}.*"


def group_prefix(tenant: str) -> str:
    """The consumer groups a tenant's principals may use: `<tenant>.` and any name after it.
    Ended by '.', which tenant names cannot contain, so `acme.` never covers `acme-x`'s."""
    return f"{tenant}."


def index_template_name(tenant: str) -> str:
    return f"logs-{tenant}"


def reader_role_name(tenant: str) -> str:
    """The Elasticsearch role that reads the tenant's indices and nothing else."""
    return f"logway-reader-{tenant}"


# Above a platform's catch-all (`logs-*`) templates; no two tenants' patterns overlap, so
# tenants' templates never compete with each other.
INDEX_TEMPLATE_PRIORITY = 200
