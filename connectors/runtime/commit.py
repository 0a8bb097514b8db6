"""Flush, then commit: offsets move past records only once what was made of them is stored."""

from __future__ import annotations

import logging

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
