"""Which offsets may be committed: the one after the highest offset finished with every offset
read before it finished too, per partition. Work may finish out of order; the commit never
passes a record still in hand."""

from __future__ import annotations

from collections import deque

from confluent_kafka import TopicPartition

Partition = tuple[str, int]


class _Progress:
    __slots__ = ("committable", "order", "unfinished")

    def __init__(self) -> None:
        self.order: deque[int] = deque()  # offsets read, oldest first, until committable
        self.unfinished: set[int] = set()
        self.committable: int | None = None  # the offset to commit, not yet committed


class OffsetTracker:
    """Offsets read and finished per partition. Not thread-safe: one worker loop owns it."""

    def __init__(self) -> None:
        self._partitions: dict[Partition, _Progress] = {}

    def read(self, topic: str, partition: int, offset: int) -> None:
        progress = self._partitions.setdefault((topic, partition), _Progress())
        if progress.order and offset <= progress.order[-1]:
            # Read again from further back (a rebalance handed the partition back, a seek):
            # what was read before is read again and finished again.
            progress.order.clear()
            progress.unfinished.clear()
        progress.order.append(offset)
        progress.unfinished.add(offset)

    def finished(self, topic: str, partition: int, offset: int) -> None:
        progress = self._partitions.get((topic, partition))
        if progress is None:
            return
        progress.unfinished.discard(offset)
        order = progress.order
        while order and order[0] not in progress.unfinished:
            progress.committable = order.popleft() + 1

    def committable(self) -> list[TopicPartition]:
        """The offsets to commit now (each partition's next offset to read), and forget them:
        a partition appears again only once it has moved on."""
        ready = []
        for (topic, partition), progress in self._partitions.items():
            if progress.committable is not None:
                ready.append(TopicPartition(topic, partition, progress.committable))
                progress.committable = None
        return ready

    def in_hand(self) -> int:
        """Records read and not finished, over all partitions."""
        return sum(len(p.unfinished) for p in self._partitions.values())

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Partitions this worker no longer owns: their new owner reads from the last commit."""
        for tp in partitions:
            self._partitions.pop((tp.topic, tp.partition), None)
