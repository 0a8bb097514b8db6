"""What a worker may commit: the offset tracker, and flushing before a commit (following
topics: tests/integration/test_runtime.py)."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer, TopicPartition

from connectors.runtime.commit import Deliveries, DeliveryError, flush
from connectors.runtime.offsets import OffsetTracker


def committed(tracker: OffsetTracker) -> dict[tuple[str, int], int]:
    return {(tp.topic, tp.partition): tp.offset for tp in tracker.committable()}


def test_the_commit_never_passes_a_record_still_in_hand() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12, 14):  # 13 was compacted away: offsets need not be contiguous
        tracker.read("t", 0, offset)
    tracker.finished("t", 0, 12)
    tracker.finished("t", 0, 14)
    assert committed(tracker) == {}  # 10 and 11 are still in hand
    tracker.finished("t", 0, 10)
    assert committed(tracker) == {("t", 0): 11}
    tracker.finished("t", 0, 11)
    assert committed(tracker) == {("t", 0): 15}
    assert committed(tracker) == {}  # given once
    assert tracker.in_hand() == 0


def test_partitions_are_tracked_apart() -> None:
    tracker = OffsetTracker()
    tracker.read("t", 0, 5)
    tracker.read("t", 1, 7)
    tracker.finished("t", 1, 7)
    assert committed(tracker) == {("t", 1): 8}
    assert tracker.in_hand() == 1


def test_reading_from_further_back_starts_the_partition_over() -> None:
    tracker = OffsetTracker()
    tracker.read("t", 0, 100)
    tracker.read("t", 0, 101)
    tracker.read("t", 0, 50)  # handed back by a rebalance: read again from the last commit
    tracker.finished("t", 0, 50)
    assert committed(tracker) == {("t", 0): 51}


def test_a_revoked_partition_is_forgotten_and_its_late_finishes_ignored() -> None:
    tracker = OffsetTracker()
    tracker.read("t", 0, 1)
    tracker.forget([TopicPartition("t", 0)])
    tracker.finished("t", 0, 1)
    assert committed(tracker) == {}
    assert tracker.in_hand() == 0


def test_records_kafka_did_not_store_stop_the_commit() -> None:
    # Nothing listens on port 1: the record cannot be acknowledged within the flush's time.
    producer = Producer({"bootstrap.servers": "127.0.0.1:1", "log_level": 0})
    producer.produce("logs.acme.processed", b"x")
    with pytest.raises(DeliveryError, match=r"1 record\(s\) not stored by Kafka \(not all"):
        flush(producer, [], 0.2, "record(s)")
    with pytest.raises(DeliveryError, match=r"2 record\(s\) not stored by Kafka \(broker down\)"):
        flush(producer, ["broker down"], 0.2, "record(s)")
    producer.purge()


def test_deliveries_name_what_kafka_refused_and_the_next_round_starts_clean() -> None:
    # Nothing listens on port 1: each record times out in the producer after 100 ms, and its
    # delivery callback says so.
    producer = Producer(
        {"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 100, "log_level": 0}
    )
    deliveries = Deliveries(producer, "pod record(s)")
    deliveries.produce("_logway.pods", b"x", b"k")
    deliveries.produce("_logway.pods", None, b"k")  # a tombstone
    with pytest.raises(DeliveryError, match=r"2 pod record\(s\) not stored by Kafka \(.*timed out"):
        deliveries.settle(5.0)
    deliveries.settle(0.1)  # nothing handed over since: nothing to refuse
