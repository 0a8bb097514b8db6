"""The control topic `_logway.tenants`: its record, and reading it from its beginning.

`apply` writes one record per tenant (key: the tenant's name; a tombstone removes it), `plan`
reads the topic to its end, and every worker follows it to learn each tenant's live version.
The record's `spec` is the tenant's declaration, whose model (`topology.model.Tenant`) sits
above this core: the record is generic over it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from pydantic import BaseModel, ConfigDict

from logway.core.kafka import KafkaConnection
from logway.core.loops import Loop, die, start_supervised
from logway.core.names import TENANTS_TOPIC

log = logging.getLogger("logway.control")

TENANTS_TOPIC_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
Spec = TypeVar("Spec", bound=BaseModel)
FILES = "files"  # the source of a tenant published by `logway apply`


class TenantRecord(BaseModel, Generic[Spec]):
    """One record of `_logway.tenants`: a tenant's declaration at one version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    published_at: datetime
    spec: Spec
    # Where the declaration came from: "files" (`logway apply`), or the custom resource
    # ("LoggingPipeline <namespace>/<name>") whose operator published it. Each tenant has one.
    source: str = FILES


class ControlReader:
    """Reads `_logway.tenants` (or another compacted topic) from its beginning, without a
    consumer group, and says when it has read what the topic held when it started."""

    def __init__(self, kafka: KafkaConnection, reader: str, topic: str = TENANTS_TOPIC) -> None:
        self.topic = topic
        self.consumer = Consumer(kafka.reader(reader))
        self._behind: set[int] = set()  # partitions not yet read to their end
        self._ends: dict[int, int] = {}

    def start(self) -> bool:
        """Assign every partition from its beginning; False when the topic does not exist yet."""
        metadata = self.consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
        if metadata is None or metadata.error is not None:
            return False
        for partition in metadata.partitions:
            low, high = self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=10
            )
            if high > low:
                self._ends[partition] = high
        self._behind = set(self._ends)
        self.consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
        )
        return True

    @property
    def caught_up(self) -> bool:
        """Whether every record the topic held at `start` has been read."""
        return not self._behind

    def poll(self, timeout_s: float) -> tuple[str, bytes | None] | None:
        """The next (key, value), a tombstone's value being None; None when there is none."""
        message = self.consumer.poll(timeout_s)
        if message is None:
            return None
        partition = message.partition() or 0
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                self._behind.discard(partition)  # the end, even if compaction left a gap
            else:
                log.warning("reading %s: %s", self.topic, error)
            return None
        offset = message.offset()
        if offset is not None and offset + 1 >= self._ends.get(partition, 0):
            self._behind.discard(partition)
        return (message.key() or b"").decode(), message.value()

    def close(self) -> None:
        self.consumer.close()


class TopicFollower:
    """Follows a compacted topic from its beginning in a supervised daemon thread
    (`logway.core.loops`), handing each (key, value) to `take` (a tombstone's value is None).
    `caught_up` is set once what the topic held at the start has been read; with
    `ready_when_missing`, also at once while the topic does not exist yet (there is nothing to
    wait for), which is otherwise waited for.

    A transient error (a new topic's partition without a leader yet, a broker away) starts the
    reading again from the topic's beginning after a backoff; `take` must therefore take a
    record it has seen before. Any other error from the reading, `take` or `tick` ends the
    process (`logway.core.loops.die`): a worker never runs on with a dead follower."""

    def __init__(
        self,
        kafka: KafkaConnection,
        reader: str,
        topic: str,
        take: Callable[[str, bytes | None], None],
        *,
        ready_when_missing: bool = False,
        tick: Callable[[], None] | None = None,
        on_death: Callable[[str, BaseException], None] = die,
    ) -> None:
        self.kafka, self.reader, self.topic = kafka, reader, topic
        self.take, self.tick = take, tick
        self.ready_when_missing = ready_when_missing
        self.on_death = on_death
        self.caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = start_supervised(
            self.reader, self._follow, self._stop, on_death=self.on_death
        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _follow(self, loop: Loop) -> None:
        reader = ControlReader(self.kafka, self.reader, self.topic)
        try:
            while not self._stop.is_set() and not reader.start():
                loop.beat()
                if not self.caught_up.is_set():
                    log.info("%s does not exist yet; waiting for it", self.topic)
                    if self.ready_when_missing:
                        self.caught_up.set()
                self._stop.wait(5)
            while not self._stop.is_set():
                record = reader.poll(0.5)
                loop.beat()
                if record is not None:
                    self.take(*record)
                if reader.caught_up and not self.caught_up.is_set():
                    self.caught_up.set()
                if self.tick is not None:
                    self.tick()
        finally:
            reader.close()
