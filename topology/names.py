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
    """A route's daily index: `logs-<tenant>-<yyyy.mm.dd>` for the default route,
    `logs-<tenant>.<route>-<yyyy.mm.dd>` for the others.

    Tenant names cannot contain '.', so no tenant's route index can be another tenant's index.
    """
    if route == DEFAULT_ROUTE:
        return f"logs-{tenant}-{day:%Y.%m.%d}"
    return f"logs-{tenant}.{route}-{day:%Y.%m.%d}"


def index_patterns(tenant: str) -> list[str]:
    """Wildcards over a tenant's indices: the default route's and the other routes'.

    Tenant names may contain hyphens, so `logs-acme-*` also matches the indices of a tenant
    `acme-pay`; whoever reads through these patterns must also filter on `logway.tenant`.
    """
    return [f"logs-{tenant}-*", f"logs-{tenant}.*"]


def index_pattern(tenant: str) -> str:
    """All of a tenant's indices, as one comma-separated search target."""
    return ",".join(index_patterns(tenant))


def index_template_priority(tenant: str) -> int:
    """Priority of the tenant's index template.

    Longer tenant names get higher priority, so where `logs-acme-*` and `logs-acme-pay-*` both
    match, `acme-pay`'s own template wins. Two different names of equal length can never match
    the same index, so priorities never tie on an overlapping pattern (Elasticsearch refuses that).
    """
    return 100 + len(tenant)
