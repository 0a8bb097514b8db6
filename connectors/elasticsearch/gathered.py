"""The records a sink has consumed and not yet sent: its next batch, bounded by records and by
bytes, so that a tenant's largest records neither make a bulk request Elasticsearch refuses
(`http.max_content_length`) nor grow the sink's memory with its backlog."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Message


def size(message: Message) -> int:
    """What a record adds to a bulk request: its value, sent byte for byte."""
    return len(message.value() or b"")


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
        taken, count = 0, 0
        for message in self._messages[: self.max_records]:
            grown = taken + size(message)
            if count and grown > self.max_bytes:
                break
            taken, count = grown, count + 1
        batch, self._messages = self._messages[:count], self._messages[count:]
        self.bytes -= taken
        return batch
