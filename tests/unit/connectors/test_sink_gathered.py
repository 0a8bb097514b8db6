"""The sink's next batch, bounded by records and by bytes (`connectors.elasticsearch.gathered`)."""

from __future__ import annotations

from confluent_kafka import Message, TopicPartition

from connectors.elasticsearch.gathered import Gathered, batches


def records(*sizes: int) -> list[Message]:
    return [
        Message(topic="logs.a.processed", partition=0, offset=n, value=b"x" * size)
        for n, size in enumerate(sizes)
    ]


def offsets(batch: list[Message]) -> list[int | None]:
    return [message.offset() for message in batch]


def test_a_batch_stops_before_the_record_that_would_pass_the_bytes() -> None:
    held = Gathered(max_records=100, max_bytes=1000)
    held.add(records(400, 400, 400, 100))
    assert held.full()
    assert held.room() == 0
    assert offsets(held.take()) == [0, 1]
    assert (len(held), held.bytes) == (2, 500)
    assert not held.full()
    assert held.room() == 98
    assert offsets(held.take()) == [2, 3]
    assert (len(held), held.bytes) == (0, 0)


def test_a_record_larger_than_the_bytes_goes_alone_and_first() -> None:
    held = Gathered(max_records=100, max_bytes=1000)
    held.add(records(5000, 10))
    assert offsets(held.take()) == [0]
    assert offsets(held.take()) == [1]
    assert held.take() == []


def test_the_records_bound_holds_for_small_records() -> None:
    held = Gathered(max_records=3, max_bytes=1_000_000)
    held.add(records(*[10] * 7))
    assert held.full()
    assert held.room() == 0
    assert offsets(held.take()) == [0, 1, 2]
    assert offsets(held.take()) == [3, 4, 5]
    assert offsets(held.take()) == [6]
    assert not held.full()
    assert held.room() == 3


def test_a_record_without_a_value_counts_nothing() -> None:
    held = Gathered(max_records=10, max_bytes=100)
    held.add([Message(topic="logs.a.processed", partition=0, offset=0)])
    assert (len(held), held.bytes) == (1, 0)


def test_a_batch_may_reach_the_bytes_exactly_and_not_pass_them() -> None:
    held = Gathered(max_records=100, max_bytes=1000)
    held.add(records(500, 500, 1))
    assert held.full()
    assert offsets(held.take()) == [0, 1]  # 1,000 bytes: at the bound, not over it
    assert offsets(held.take()) == [2]


def test_records_of_partitions_no_longer_owned_are_dropped() -> None:
    held = Gathered(max_records=100, max_bytes=1000)
    mine = Message(topic="logs.a.processed", partition=0, offset=7, value=b"x" * 10)
    theirs = Message(topic="logs.b.processed", partition=1, offset=3, value=b"x" * 20)
    held.add([mine, theirs])
    held.forget([TopicPartition("logs.b.processed", 1)])
    assert (len(held), held.bytes) == (1, 10)
    assert offsets(held.take()) == [7]


def test_held_items_go_again_in_batches_of_the_same_bounds() -> None:
    sizes = [400, 400, 400, 5000, 10, 10]
    cut = list(batches(sizes, max_records=2, max_bytes=1000, size_of=lambda n: n))
    assert cut == [[400, 400], [400], [5000], [10, 10]]
