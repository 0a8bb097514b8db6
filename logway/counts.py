"""Per-tenant counts, read from Kafka and Elasticsearch themselves (not from our processes).

received: records in `logs.<t>.raw`; processed: in `logs.<t>.processed`; dead-lettered: in
`logs.<t>.dlq` (records, so a re-read can count one event twice there); indexed: documents in
the tenant's indices, counted by `logway.tenant` because index patterns of hyphenated tenant
names overlap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition
from elasticsearch import ApiError, Elasticsearch, TransportError

from logway.core.kafka import KafkaConnection
from logway.core.names import dlq_topic, index_pattern, processed_topic, raw_topic


@dataclass(frozen=True)
class TenantCounts:
    tenant: str
    received: int
    processed: int
    dead_lettered: int
    indexed: int | None  # None while Elasticsearch cannot say (e.g. a new index starting)


def topic_size(consumer: Consumer, topic: str) -> int:
    """Records currently in `topic`: the sum over partitions of high minus low watermark."""
    try:
        metadata = consumer.list_topics(topic, timeout=5).topics.get(topic)
    except KafkaException:
        return 0
    if metadata is None or metadata.error is not None:
        return 0
    total = 0
    for partition in metadata.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
        total += max(0, high - low)
    return total


def end_offset(consumer: Consumer, topic: str) -> int:
    """Sum over `topic`'s partitions of their end offsets (records ever written); 0 if absent."""
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    except KafkaException:
        return 0
    if metadata is None or metadata.error is not None:
        return 0
    return sum(
        consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        for p in metadata.partitions
    )


def indexed_count(es: Elasticsearch, tenant: str) -> int | None:
    """Documents of `tenant`, or None when Elasticsearch cannot count them right now."""
    try:
        response = es.count(
            index=index_pattern(tenant),
            query={"term": {"logway.tenant": tenant}},
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    except (TransportError, ApiError):
        return None
    return int(response["count"])


def tenant_counts(
    consumer: Consumer, es: Elasticsearch, tenants: Iterable[str]
) -> list[TenantCounts]:
    return [
        TenantCounts(
            tenant,
            topic_size(consumer, raw_topic(tenant)),
            topic_size(consumer, processed_topic(tenant)),
            topic_size(consumer, dlq_topic(tenant)),
            indexed_count(es, tenant),
        )
        for tenant in tenants
    ]


def counts_consumer(kafka: KafkaConnection) -> Consumer:
    """A consumer used only for metadata and watermarks; it never joins a group."""
    return Consumer(kafka.reader("logway-counts"))
