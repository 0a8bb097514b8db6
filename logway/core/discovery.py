"""Which tenants' topics exist on the broker: how workers find new tenants without a restart."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from confluent_kafka.admin import AdminClient, ConfigResource
from pydantic import AfterValidator, Field


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


TenantsMatching = Annotated[
    str,
    AfterValidator(_compiles),
    Field(
        description="Regular expression over tenant names: a worker serves the tenants whose "
        "name it matches in full. Lets a platform run separate worker pools per tenant group.",
        examples=[".*", "payments|search-api", "team-a-.*"],
    ),
]


def tenant_matcher(tenants_matching: str) -> Callable[[str], bool]:
    """A predicate over tenant names from a regular expression that must match in full."""
    compiled = re.compile(tenants_matching)
    return lambda tenant: compiled.fullmatch(tenant) is not None


def served_topics(
    admin: AdminClient, kind: re.Pattern[str], serves: Callable[[str], bool], timeout: float = 10
) -> list[str]:
    """Topics on the broker matching `kind` (whose group 1 is the tenant) for served tenants."""
    found = []
    for name in admin.list_topics(timeout=timeout).topics:
        match = kind.match(name)
        if match and serves(match.group(1)):
            found.append(name)
    return sorted(found)


def topic_config(admin: AdminClient, topic: str, key: str) -> str | None:
    """The value of the config `key` of `topic` as Kafka reports it (None if it has none).
    Raises KafkaException when Kafka cannot say."""
    futures = admin.describe_configs([ConfigResource("topic", topic)], request_timeout=10)
    for future in futures.values():
        entry = future.result().get(key)
        if entry is not None and entry.value is not None:
            return str(entry.value)
    return None
