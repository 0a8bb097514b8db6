"""Each tenant's raw, processed and dead-letter topics: their partitions and managed settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    OffsetSpec,
)
from confluent_kafka.cimpl import NewPartitions, NewTopic

from logway.core.names import tenant_topics
from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.resources.change import Change, Kind
from topology.resources.kind import FEW, Wanted, batches, in_parallel, server_error
from topology.targets import Targets

MANAGED_TOPIC_CONFIGS = (
    "retention.ms",
    "max.message.bytes",
    "min.insync.replicas",
    "message.timestamp.type",
    "segment.index.bytes",
)

# The broker preallocates each segment's offset and time index at this size, as a sparse file
# it maps into memory. Where the kernel reads a mapped file in large folios (ext4 on Linux 6.18
# here), the first index entry of a new segment zero-fills up to the whole file: the broker's
# default 10 MiB, twice. At 1,000 tenants' new topics that was most of the broker's CPU
# (docs/benchmarks.md, "Many tenants"). 1 MiB still indexes at least 358 MB of records per
# segment (an entry per 4 KiB or more, 12 bytes each in the time index); a full index rolls it.
SEGMENT_INDEX_BYTES = 1024 * 1024


def topic_configs(tenant: Tenant, topic: str, min_insync_replicas: int = 0) -> dict[str, str]:
    """The topic configs apply keeps as declared; `min_insync_replicas` 0: the broker's own."""
    hours = tenant.dlq.retention_hours if topic.endswith(".dlq") else tenant.topics.retention_hours
    configs = {
        "retention.ms": str(hours * 3_600_000),
        "max.message.bytes": str(tenant.topics.max_record_bytes),
        "segment.index.bytes": str(SEGMENT_INDEX_BYTES),
    }
    if topic.endswith(".raw"):
        # The broker stamps each raw record: `logway.received_at`, which places the document
        # in its route's generation (`logway.core.generations`), is then no producer's to set.
        configs["message.timestamp.type"] = "LogAppendTime"
    if min_insync_replicas:
        configs["min.insync.replicas"] = str(min_insync_replicas)
    return configs


def partition_counts(admin: AdminClient, topics: Sequence[str], timeout: float) -> dict[str, int]:
    """How many partitions each of `topics` that exists has. A few are described by name (on a
    cluster of thousands of topics, listing them all for one tenant costs 25 times as much);
    many are taken from one listing."""
    if len(topics) > FEW:
        listed = admin.list_topics(timeout=timeout).topics
        return {t: len(listed[t].partitions) for t in topics if t in listed}
    found: dict[str, int] = {}
    futures = admin.describe_topics(TopicCollection(list(topics)), request_timeout=timeout)
    for topic, future in futures.items():
        try:
            found[topic] = len(future.result().partitions)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
    return found


@dataclass(frozen=True)
class TopicsSeen:
    partitions: dict[str, int]  # topic -> partitions, for the topics that exist
    configs: dict[str, dict[str, str]]  # topic -> its managed configs
    records: dict[str, int] = field(default_factory=dict)  # records held, of pruned tenants
    min_insync_replicas: int = 0


class Topics:
    kinds: frozenset[Kind] = frozenset({"topic", "topic config"})

    def observe(self, targets: Targets, wanted: Wanted) -> TopicsSeen:
        topics = [topic for name in wanted.names for topic in tenant_topics(name)]
        partitions = partition_counts(targets.admin, topics, targets.timeout)
        declared = {topic for t in wanted.tenants for topic in tenant_topics(t.name)}
        configs = _configs(targets, [t for t in partitions if t in declared])
        records = {}
        if wanted.prune and not wanted.keep_data:
            pruned = [
                (topic, count)
                for live in wanted.pruned
                for topic in tenant_topics(live.name)
                if (count := partitions.get(topic)) is not None
            ]
            records = _records(targets, pruned)
        return TopicsSeen(partitions, configs, records, targets.min_insync_replicas)

    def diff(self, wanted: Wanted, seen: TopicsSeen) -> list[Change]:
        changes: list[Change] = []
        for tenant in wanted.tenants:
            want = tenant.topics.partitions
            for topic in tenant_topics(tenant.name):
                count = seen.partitions.get(topic)
                if count is None:
                    changes.append(
                        Change(tenant.name, "topic", topic, "create", f"{want} partitions")
                    )
                    continue
                changes.append(_partitions_change(tenant.name, topic, count, want))
                have = seen.configs.get(topic, {})
                differs = {
                    key: f"{have.get(key)} -> {value}"
                    for key, value in topic_configs(tenant, topic, seen.min_insync_replicas).items()
                    if have.get(key) != value
                }
                if differs:
                    detail = ", ".join(f"{k} {v}" for k, v in sorted(differs.items()))
                    changes.append(Change(tenant.name, "topic config", topic, "update", detail))
        return changes

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: TopicsSeen) -> list[Change]:
        if wanted.keep_data:
            return []
        return [
            Change(live.name, "topic", topic, "delete", f"{seen.records.get(topic, 0)} records")
            for topic in tenant_topics(live.name)
            if topic in seen.partitions
        ]

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        admin, timeout = targets.admin, max(targets.timeout, 60.0)
        done: list[Change] = []
        creates = [c for c in changes if c.kind == "topic" and c.action == "create"]
        for batch in batches(creates):
            new = [
                NewTopic(
                    c.name,
                    num_partitions=tenants[c.tenant].topics.partitions,
                    replication_factor=targets.replication_factor,
                    config=topic_configs(tenants[c.tenant], c.name, targets.min_insync_replicas),
                )
                for c in batch
            ]
            done += _settled(batch, admin.create_topics(new, request_timeout=timeout))
        grows = [c for c in changes if c.action == "grow partitions"]
        for batch in batches(grows):
            more = [NewPartitions(c.name, tenants[c.tenant].topics.partitions) for c in batch]
            done += _settled(batch, admin.create_partitions(more, request_timeout=timeout))
        updates = [c for c in changes if c.kind == "topic config"]
        for batch in batches(updates):
            resources = [
                ConfigResource(
                    "topic",
                    c.name,
                    incremental_configs=[
                        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                        for key, value in topic_configs(
                            tenants[c.tenant], c.name, targets.min_insync_replicas
                        ).items()
                    ],
                )
                for c in batch
            ]
            futures = admin.incremental_alter_configs(resources, request_timeout=timeout)
            done += _settled(batch, {r.name: f for r, f in futures.items()})
        deletes = [c for c in changes if c.action == "delete"]
        for batch in batches(deletes):
            names = [c.name for c in batch]
            done += _settled(batch, admin.delete_topics(names, request_timeout=timeout))
        return done


def _partitions_change(tenant: str, topic: str, count: int, want: int) -> Change:
    if count < want:
        return Change(tenant, "topic", topic, "grow partitions", f"{count} -> {want}")
    if count > want:
        detail = f"has {count} partitions, tenant asks {want}; Kafka cannot shrink partitions"
        return Change(tenant, "topic", topic, "kept larger", detail)
    return Change(tenant, "topic", topic, "unchanged")


def _settled(changes: Sequence[Change], futures: Mapping[str, Future[Any]]) -> list[Change]:
    """Each change with the result of its topic's future (keyed by topic name)."""
    done = []
    for change in changes:
        future = futures[change.name]
        try:
            future.result()
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                done.append(change.done())  # created concurrently: the state we wanted
                continue
            done.append(change.failed(server_error(exc) or str(exc)))
            continue
        done.append(change.done())
    return done


def _configs(targets: Targets, topics: list[str]) -> dict[str, dict[str, str]]:
    """The managed configs of `topics`, `BATCH` topics a request, several requests at once."""

    def described(batch: Sequence[str]) -> dict[str, dict[str, str]]:
        futures = targets.admin.describe_configs(
            [ConfigResource("topic", topic) for topic in batch],
            request_timeout=max(targets.timeout, 60.0),
        )
        found = {}
        for resource, future in futures.items():
            entries = future.result()
            found[resource.name] = {
                key: entries[key].value for key in MANAGED_TOPIC_CONFIGS if key in entries
            }
        return found

    return {
        topic: configs
        for found in in_parallel(described, batches(topics, CONFIG_BATCH))
        for topic, configs in found.items()
    }


CONFIG_BATCH = 200


def _records(targets: Targets, topics: list[tuple[str, int]]) -> dict[str, int]:
    """Records held by each topic (name, partitions): two offset listings for all of them."""
    if not topics:
        return {}
    tps = [TopicPartition(topic, p) for topic, count in topics for p in range(count)]
    first = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
    end = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    timeout = targets.timeout
    earliest = targets.admin.list_offsets(dict.fromkeys(tps, first), request_timeout=timeout)
    latest = targets.admin.list_offsets(dict.fromkeys(tps, end), request_timeout=timeout)
    held: dict[str, int] = {}
    for tp in tps:
        count = latest[tp].result().offset - earliest[tp].result().offset
        held[tp.topic] = held.get(tp.topic, 0) + count
    return held
