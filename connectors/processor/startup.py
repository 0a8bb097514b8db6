"""What a processor waits for before it consumes, and what it asks the broker meanwhile: the
tenants' published versions read, raw topics of published tenants only (`apply` creates a
tenant's topics before it publishes it), and partition counts for the rate limits' shares."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka.admin import AdminClient

from connectors.processor.config import ProcessorConfig
from logway.core.discovery import served_topics
from logway.core.names import RAW_TOPIC_RE, tenant_of_topic
from topology.registry import TenantRegistry

REGISTRY_WAIT_TELL_S = 30.0  # how often a processor still reading the published versions says so
log = logging.getLogger("logway.processor")


def partition_counts(consumer: Any, admin: AdminClient) -> Callable[[str], int | None]:
    """A topic's partition count, for one rebalance: from Faust's metadata, else (a member
    that just joined may not have it yet) from the broker's, asked once for all topics rather
    than once per tenant. None when neither knows it."""
    broker: dict[str, int] | None = None

    def count(topic: str) -> int | None:
        nonlocal broker
        known: int | None = consumer.topic_partitions(topic)
        if known:
            return known
        if broker is None:
            try:
                listed = admin.list_topics(timeout=5).topics
                broker = {name: len(t.partitions) for name, t in listed.items() if t.partitions}
            except Exception as exc:
                log.warning("partition counts unknown (%s); limits use the whole rate", exc)
                broker = {}
        return broker.get(topic)

    return count


def served_raw_topics(admin: AdminClient, config: ProcessorConfig) -> list[str]:
    """The raw topics on the broker that belong to tenants this worker serves."""
    return served_topics(admin, RAW_TOPIC_RE, config.serves)


class UnpublishedTopics:
    """New raw topics held back until their tenant's version is read: `apply` creates the
    topics before it publishes, and a record must go through its tenant's pipeline, never a
    default one. A topic whose tenant is never published (its publication failed, or it was
    deleted before this worker started) is never consumed: Kafka keeps its records until the
    tenant is published or the topic's retention ends. `published(tenant)` says whether the
    registry has it."""

    def __init__(self, published: Callable[[str], bool]) -> None:
        self.published = published
        self.waiting: set[str] = set()

    def ready(self, found: Iterable[str]) -> list[str]:
        """Of the topics found now and those held back before, the ones to consume now."""
        self.waiting.update(found)
        ready = sorted(t for t in self.waiting if self.published(tenant_of_topic(t) or ""))
        self.waiting.difference_update(ready)
        return ready


def wait_for_registry(registry: TenantRegistry) -> None:
    """Block until every published version is read: a record processed before its tenant's
    version is known would go through the default pipeline, skipping the tenant's steps
    (its redactions among them). Kafka holds the records meanwhile."""
    waited = 0.0
    while not registry.caught_up.wait(REGISTRY_WAIT_TELL_S):
        waited += REGISTRY_WAIT_TELL_S
        log.warning(
            "still reading the published tenant versions after %.0f s; processing waits", waited
        )


def wait_for_topics(
    config: ProcessorConfig,
    published: Callable[[str], bool] = lambda _tenant: True,
    stop_after_s: float | None = None,
) -> list[str]:
    """Block until at least one served raw topic of a `published` tenant exists; return them."""
    admin = AdminClient(config.kafka.admin())
    started = time.monotonic()
    announced = False
    while True:
        try:
            found = served_raw_topics(admin, config)
        except Exception as exc:
            log.warning(
                "Kafka at %s not answering yet: %s", config.kafka, config.kafka.diagnose() or exc
            )
            found = []
        topics = [t for t in found if published(tenant_of_topic(t) or "")]
        if topics:
            return topics
        if stop_after_s is not None and time.monotonic() - started > stop_after_s:
            return []
        if not announced:
            log.warning(
                "no published tenant matching %r with a raw topic yet; run `logway apply` "
                "(waiting)",
                config.tenants_matching,
            )
            announced = True
        time.sleep(config.discovery_interval_s)
