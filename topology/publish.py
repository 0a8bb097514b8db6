"""Tenant versions and the compacted control topic `_logway.tenants` (key: tenant name).

A version is a hash of the tenant's validated declaration, so the same YAML always gives the same
version and any change gives a new one. Workers read the topic to learn each tenant's live
version; `plan` reads it to say which tenants `apply` would publish.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from confluent_kafka import KafkaError, Producer
from pydantic import ValidationError

from logway.core.control import FILES, ControlReader, TenantRecord
from logway.core.kafka import KafkaConnection
from logway.core.names import TENANTS_TOPIC
from topology.model import Tenant

log = logging.getLogger("logway.publish")
# One record of `_logway.tenants`: a tenant's declaration at one version (logway.core.control).
PublishedTenant = TenantRecord[Tenant]


def tenant_version(tenant: Tenant) -> str:
    """12 hex digits of SHA-256 over the tenant's canonical JSON (defaults filled in)."""
    canonical = orjson.dumps(tenant.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:12]


def read_published(kafka: KafkaConnection, timeout: float = 30) -> dict[str, PublishedTenant]:
    """The latest published version of every tenant: `_logway.tenants` read to its end.

    An absent topic means nothing was published yet. Tombstones remove a tenant; an unreadable
    record (a bad publish) is skipped, so the version before it stays the latest.
    """
    latest: dict[str, PublishedTenant] = {}
    unreadable: set[str] = set()  # tenants whose newest record is unreadable
    reader = ControlReader(kafka, "logway-topic-reader")
    try:
        started = reader.start()
        deadline = time.monotonic() + timeout
        while started and not reader.caught_up:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {TENANTS_TOPIC} to its end in {timeout}s")
            record = reader.poll(1.0)
            if record is None:
                continue
            key, value = record
            unreadable.discard(key)
            if value is None:
                latest.pop(key, None)
                continue
            try:
                latest[key] = PublishedTenant.model_validate_json(value)
            except ValidationError:
                unreadable.add(key)
    finally:
        reader.close()
    for key in sorted(unreadable):
        log.warning(
            "newest record of tenant %r in %s is unreadable; using the one before",
            key,
            TENANTS_TOPIC,
        )
    return latest


def publish(
    producer: Producer,
    tenants: list[Tenant],
    removed: Sequence[str] = (),
    timeout: float = 30,
    source: str = FILES,
) -> dict[str, str]:
    """Publish `tenants` (declared in `source`) to `_logway.tenants`, and a tombstone for each
    name in `removed`.

    Returns {name: error} for those Kafka refused.
    """
    failed: dict[str, str] = {}
    now = datetime.now(UTC)

    def delivered(err: KafkaError | None, msg: object) -> None:
        if err is not None:
            key = getattr(msg, "key", lambda: b"")() or b""
            failed[key.decode()] = err.str()

    for tenant in tenants:
        record = PublishedTenant(
            name=tenant.name,
            version=tenant_version(tenant),
            published_at=now,
            spec=tenant,
            source=source,
        )
        producer.produce(
            TENANTS_TOPIC,
            key=tenant.name.encode(),
            value=orjson.dumps(record.model_dump(mode="json")),
            on_delivery=delivered,
        )
    for name in removed:
        producer.produce(TENANTS_TOPIC, key=name.encode(), value=None, on_delivery=delivered)
    remaining = producer.flush(timeout)
    if remaining:
        for name in [t.name for t in tenants] + list(removed):
            failed.setdefault(name, f"not acknowledged within {timeout}s")
    return failed
