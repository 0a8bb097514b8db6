"""Flush, then commit: offsets move past records only once what was made of them is stored.

The two halves of at-least-once, written once for every worker: `Deliveries` (what a producer
was handed and what Kafka refused of it, until it is all stored) and `commit` (offsets, once
it is). Which offsets may move is `connectors.runtime.offsets.OffsetTracker` for the workers
on confluent-kafka, and Faust's own acknowledgements in the processor, which acks a record
only once its `Deliveries` are settled."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from logway.core.metrics import COMMIT_FAILURES

log = logging.getLogger("logway.runtime")


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge every record produced: the offsets must not be committed."""


def flush(producer: Producer, failures: list[str], timeout_s: float, what: str) -> None:
    """Wait until Kafka acknowledged everything `producer` holds; raise `DeliveryError` naming
    what was lost when a delivery failed (`failures`, filled by the delivery callbacks) or did
    not finish in time."""
    remaining = producer.flush(timeout_s)
    if failures or remaining:
        why = "; ".join(failures[:3]) or f"not all acknowledged within {timeout_s:g} s"
        raise DeliveryError(f"{len(failures) + remaining} {what} not stored by Kafka ({why})")


class Deliveries:
    """Records handed to one producer, and what Kafka refused of them, until `settle` says
    all were stored. Not thread-safe: one worker loop produces; `settle` may run on another
    thread while nothing is produced."""

    def __init__(self, producer: Producer, what: str) -> None:
        self.producer = producer
        self.what = what  # "processed record(s)": how a failure names them
        self._failures: list[str] = []
        # bound once: the processor hands over every record it makes through `produce`
        self._produce, self._on_delivery = producer.produce, self._delivered

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        """Hand one record to the producer; while its local queue is full, let deliveries
        drain first."""
        while True:
            try:
                self._produce(topic, value, key, on_delivery=self._on_delivery)
                return
            except BufferError:
                self.producer.poll(0.05)

    def settle(self, timeout_s: float = 60.0) -> None:
        """Wait until Kafka acknowledged every record handed over; else raise `DeliveryError`
        (and start the next round clean)."""
        try:
            flush(self.producer, self._failures, timeout_s, self.what)
        finally:
            self._failures = []

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self._failures.append(err.str() if hasattr(err, "str") else str(err))


def commit(consumer: Consumer, offsets: list[TopicPartition], component: str) -> bool:
    """Commit `offsets` and wait for it. A refused commit (the partitions moved to another
    worker in a rebalance meanwhile) is counted and logged, not raised: the new owner reads
    those records again, and their ids make that an overwrite. Returns whether it was taken."""
    if not offsets:
        return True
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException as exc:
        COMMIT_FAILURES.labels(component=component).inc()
        log.warning("commit failed, the records will be read again: %s", exc)
        return False
    return True
