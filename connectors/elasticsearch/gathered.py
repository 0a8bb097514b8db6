"""The records a sink has consumed and not yet sent: its next batch, bounded by records and by
bytes, so that a tenant's largest records neither make a bulk request Elasticsearch refuses
(`http.max_content_length`) nor grow the sink's memory with its backlog."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from confluent_kafka import Message, TopicPartition

T = TypeVar("T")


def size(message: Message) -> int:
    """What a record adds to a bulk request: its value, sent byte for byte."""
    return len(message.value() or b"")


def first_batch(
    items: Sequence[T], max_records: int, max_bytes: int, size_of: Callable[[T], int]
) -> tuple[int, int]:
    """How many of `items`, from the first, make one batch, and their bytes: up to
    `max_records` and `max_bytes`, and at least one (one larger than `max_bytes` goes
    alone)."""
    taken, count = 0, 0
    for item in items[:max_records]:
        grown = taken + size_of(item)
        if count and grown > max_bytes:
            break
        taken, count = grown, count + 1
    return count, taken


def batches(
    items: Sequence[T], max_records: int, max_bytes: int, size_of: Callable[[T], int]
) -> Iterator[Sequence[T]]:
    """`items` in order, cut into batches of `first_batch`'s bounds."""
    start = 0
    while start < len(items):
        count, _ = first_batch(items[start:], max_records, max_bytes, size_of)
        yield items[start : start + count]
        start += count


class Gathered:
    """Consumed records in the order read, with their total size. Not thread-safe: the
    sink's loop owns it."""

    def __init__(self, max_records: int, max_bytes: int) -> None:
        self.max_records, self.max_bytes = max_records, max_bytes
        self._messages: list[Message] = []
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._messages)

    def add(self, messages: Iterable[Message]) -> None:
        for message in messages:
            self._messages.append(message)
            self.bytes += size(message)

    def full(self) -> bool:
        """Is there a whole batch, by either bound?"""
        return len(self._messages) >= self.max_records or self.bytes >= self.max_bytes

    def room(self) -> int:
        """How many more records to consume now: none once a batch is whole. (One consume may
        still bring more bytes than are left: at most what the consumer had read ahead.)"""
        return 0 if self.full() else self.max_records - len(self._messages)

    def take(self) -> list[Message]:
        """The next batch, oldest first: up to `max_records` records and `max_bytes` bytes,
        and at least one record (one larger than `max_bytes` goes alone). The rest stay for
        the batches after it."""
        count, taken = first_batch(self._messages, self.max_records, self.max_bytes, size)
        batch, self._messages = self._messages[:count], self._messages[count:]
        self.bytes -= taken
        return batch

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Drop the records of partitions this worker no longer owns: their new owner reads
        them from the last commit."""
        gone = {(tp.topic, tp.partition) for tp in partitions}
        kept = [m for m in self._messages if (m.topic(), m.partition()) not in gone]
        if len(kept) != len(self._messages):
            self._messages = kept
            self.bytes = sum(size(m) for m in kept)
