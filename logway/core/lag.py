"""Consumer lag, measured from the broker: `logway_consumer_lag_records` and
`logway_consumer_lag_seconds` of a worker's group, for the topics it serves, every few seconds
(`LagMonitor`), which `observe` starts for a worker."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, OffsetSpec

from logway.core.kafka import KafkaConnection
from logway.core.loops import Loop, start_supervised
from logway.core.metrics import (
    CONSUMER_LAG,
    CONSUMER_LAG_SECONDS,
    TOPIC_RETENTION_SECONDS,
    Component,
)

log = logging.getLogger("logway.metrics")
RETENTION_LOOK_S = 300.0  # how often the served topics' retention is described again


def observe(
    *,
    component: Component,
    kafka: KafkaConnection,
    group: str,
    kind: re.Pattern[str],
    serves: Callable[[str], bool],
) -> LagMonitor:
    """The consumer lag of a worker's group measured from now on (its /metrics is served by
    `connectors.runtime.lifecycle`)."""
    return LagMonitor(
        kafka=kafka, group=group, component=component, kind=kind, serves=serves
    ).start()


class LagMonitor:
    """Computes `logway_consumer_lag_records` for a consumer group every `interval_s` seconds.

    Runs in a daemon thread with its own clients; a failed round is logged and tried again.
    """

    def __init__(
        self,
        *,
        kafka: KafkaConnection,
        group: str,
        component: Component,
        kind: re.Pattern[str],
        serves: Callable[[str], bool],
        interval_s: float = 15.0,
        retention_look_s: float = RETENTION_LOOK_S,
    ) -> None:
        self.kafka = kafka
        self.group = group
        self.component = component
        self.kind = kind
        self.serves = serves
        self.interval_s = interval_s
        self._stop = threading.Event()
        # Retention changes only when a tenant is applied: described again every
        # `retention_look_s`, and at once for a topic never described.
        self.retention_look_s = retention_look_s
        self._retentions: dict[str, float] = {}
        self._described: set[str] = set()
        self._retentions_due = 0.0

    def start(self) -> LagMonitor:
        start_supervised("lag-monitor", self._run, self._stop)
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self, loop: Loop) -> None:
        admin = AdminClient(self.kafka.admin())
        consumer = Consumer(self.kafka.reader(self.group))
        peek = Consumer(  # reads one record at a committed offset; never joins a group
            self.kafka.reader(f"{self.group}-lag-peek", PEEK_SETTINGS)
        )
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    self.measure(admin, consumer, peek)
                except KafkaException as exc:  # a measurement: Kafka's own errors are retried
                    log.warning("measuring consumer lag failed, will retry: %s", exc)
                loop.beat()
        finally:
            consumer.close()
            peek.close()

    def measure(
        self, admin: AdminClient, consumer: Consumer, peek: Consumer | None = None
    ) -> dict[str, int]:
        """One round: lag per served tenant (records, and with `peek` seconds and retention),
        set on the gauges; the records are returned.

        A few requests for all tenants together, whatever their number: one listing of the
        topics, one of the group's committed offsets, one of the end offsets, one fetch of the
        oldest unread record of every partition behind, one description of the topics'
        retention (at 1,000 tenants, a request or more per partition each round kept the
        workers and the broker busy)."""
        listed = admin.list_topics(timeout=10).topics
        tenants: dict[str, str] = {}  # topic -> tenant
        for topic in listed:
            match = self.kind.match(topic)
            if match and self.serves(match.group(1)):
                tenants[topic] = match.group(1)
        tps = [
            TopicPartition(topic, p) for topic in sorted(tenants) for p in listed[topic].partitions
        ]
        lags = dict.fromkeys(tenants.values(), 0)
        behind: list[TopicPartition] = []  # at their committed offset
        if tps:
            committed = consumer.committed(tps, timeout=10)
            ends = _end_offsets(admin, tps)
            for tp in committed:
                start = tp.offset if tp.offset >= 0 else ends[(tp.topic, tp.partition)][0]
                lag = max(0, ends[(tp.topic, tp.partition)][1] - start)
                lags[tenants[tp.topic]] += lag
                if lag > 0:
                    behind.append(TopicPartition(tp.topic, tp.partition, start))
        if peek is not None:
            oldest: dict[str, float] = {}  # topic -> its oldest unread record's time
            for (topic, _partition), read_at in _record_times(peek, behind).items():
                oldest[topic] = min(read_at, oldest.get(topic, read_at))
            now = time.time()
            for topic, tenant in tenants.items():
                first = oldest.get(topic)
                age = max(0.0, now - first) if first is not None else 0.0
                CONSUMER_LAG_SECONDS.labels(component=self.component, tenant=tenant).set(age)
            for topic, retention in self._retention_of(admin, list(tenants)).items():
                TOPIC_RETENTION_SECONDS.labels(component=self.component, tenant=tenants[topic]).set(
                    retention
                )
        for tenant, lag in lags.items():
            CONSUMER_LAG.labels(component=self.component, tenant=tenant).set(lag)
        return lags

    def _retention_of(self, admin: AdminClient, topics: list[str]) -> dict[str, float]:
        """The topics' retention in seconds (those with one), described again only every
        `retention_look_s` or for a topic not described yet: at 1,000 tenants each description
        is 1,000 topics' every setting."""
        if time.monotonic() >= self._retentions_due:
            self._retentions = _retentions_s(admin, topics)
            self._described = set(topics)
            self._retentions_due = time.monotonic() + self.retention_look_s
        else:
            new = [topic for topic in topics if topic not in self._described]
            if new:
                self._retentions.update(_retentions_s(admin, new))
                self._described.update(new)
        return {topic: self._retentions[topic] for topic in topics if topic in self._retentions}


def _end_offsets(
    admin: AdminClient, tps: list[TopicPartition]
) -> dict[tuple[str, int], tuple[int, int]]:
    """(earliest, latest) offset of every partition: two requests."""
    first = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
    last = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    earliest = admin.list_offsets(dict.fromkeys(tps, first), request_timeout=10)
    latest = admin.list_offsets(dict.fromkeys(tps, last), request_timeout=10)
    return {
        (tp.topic, tp.partition): (earliest[tp].result().offset, latest[tp].result().offset)
        for tp in tps
    }


# The peek wants one record of each partition behind. librdkafka would fetch ahead up to
# 64 MiB over all the partitions behind: the processor's memory rose by 40 MB, at 1,000
# tenants behind, every time the lag was measured. One queued record per partition, 4 MiB
# in all; a partition whose queue is full waits 10 ms for its next fetch, not librdkafka's
# 1 s, so that all partitions behind are read within the peek's few seconds.
PEEK_SETTINGS: Mapping[str, Any] = MappingProxyType(
    {
        "queued.min.messages": 1,
        "fetch.max.bytes": 4 * 1024 * 1024,
        "queued.max.messages.kbytes": 4 * 1024,
        "fetch.queue.backoff.ms": 10,
    }
)


def _record_times(
    peek: Consumer, behind: list[TopicPartition], timeout_s: float = 5.0
) -> dict[tuple[str, int], float]:
    """Kafka time (Unix seconds) of the record at each partition's given offset (the oldest
    unread): all partitions assigned at once, the first record of each kept."""
    if not behind:
        return {}
    found: dict[tuple[str, int], float] = {}
    wanted = {(tp.topic, tp.partition) for tp in behind}
    peek.assign(behind)
    try:
        deadline = time.monotonic() + timeout_s
        while wanted - found.keys() and (left := deadline - time.monotonic()) > 0:
            for message in peek.consume(num_messages=1000, timeout=min(left, 0.5)):
                here = (message.topic(), message.partition())
                if message.error() is not None or here in found or here not in wanted:
                    continue
                kind, stamp = message.timestamp()
                if kind != TIMESTAMP_NOT_AVAILABLE and stamp > 0:
                    found[here] = stamp / 1000
                    peek.pause([TopicPartition(*here)])
                else:
                    wanted.discard(here)
    finally:
        peek.unassign()
    return found


def _retentions_s(admin: AdminClient, topics: list[str]) -> dict[str, float]:
    """Each topic's `retention.ms` in seconds (those with one): one request per 500 topics."""
    found: dict[str, float] = {}
    for start in range(0, len(topics), 500):
        resources = [ConfigResource("topic", t) for t in topics[start : start + 500]]
        for resource, future in admin.describe_configs(resources, request_timeout=10).items():
            entry = future.result().get("retention.ms")
            if entry is not None and entry.value is not None and int(entry.value) > 0:
                found[resource.name] = int(entry.value) / 1000
    return found
