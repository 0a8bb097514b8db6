"""What one tenant's index cannot take now, held aside: that tenant waits, every other flows.

When Elasticsearch refuses an item for a reason of the cluster's own state (the shard limit
reached, a block, a missing ingest pipeline: `classify.Verdict.WAIT`), the tenant sent nothing
wrong, so nothing is dead-lettered. Its items are held here and its processed partitions
paused: Kafka keeps the rest of its records. The other tenants' partitions are read and
indexed as before. Held items are sent again with backoff (`retry_initial_s`, doubling up to
`retry_max_s`, per tenant); once taken or refused for good they are finished, so their offsets
may be committed, and the tenant's partitions resume. Until then the offset tracker keeps the
group's commit below them: a restart reads them again, and their ids make that an overwrite.

Memory stays bounded: a held tenant's partitions are paused, so only records fetched before
the pause can join its held items.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition

from connectors.elasticsearch.gathered import batches
from connectors.elasticsearch.request import Pending
from connectors.elasticsearch.service import Attempt, Waiting
from logway.core.deadletter import DeadLetter
from logway.core.metrics import PAUSED_PARTITIONS, WAITING_RECORDS
from logway.core.origin import Origin

log = logging.getLogger("logway.sink")


@dataclass
class _Held:
    """One tenant's items waiting for its index, and when to try them again."""

    items: list[Pending] = field(default_factory=list)
    reason: str = ""
    error: str = ""
    delay_s: float = 0.0
    due: float = 0.0  # time.monotonic()


class Parking:
    """The held items of the tenants whose index the cluster cannot take now. Not
    thread-safe: the sink's loop owns it."""

    def __init__(
        self,
        consumer: Consumer,
        initial_s: float,
        max_s: float,
        *,
        max_records: int,
        max_bytes: int,
    ) -> None:
        """`max_records` and `max_bytes` bound each bulk request of held items, as they bound
        the sink's batches: tenants held together (a cluster-wide block) are due together."""
        self.consumer, self.initial_s, self.max_s = consumer, initial_s, max_s
        self.max_records, self.max_bytes = max_records, max_bytes
        self._tenants: dict[str, _Held] = {}
        self._positions: set[tuple[str, int, int]] = set()
        self._paused_at = float("-inf")  # time.monotonic() of the last pause

    def __bool__(self) -> bool:
        return bool(self._tenants)

    def park(self, waiting: list[Waiting]) -> None:
        """Hold these items until their index can take them; pause their tenants' partitions."""
        for entry in waiting:
            held = self._tenants.get(entry.item.tenant)
            if held is None:
                held = self._tenants[entry.item.tenant] = _Held(delay_s=self.initial_s)
                held.due = time.monotonic() + self._jittered(held.delay_s)
                log.warning(
                    "Elasticsearch cannot take tenant %s's records now (%s), a state of the "
                    "cluster; they wait, its partitions paused, the other tenants go on: %s",
                    entry.item.tenant,
                    entry.reason,
                    entry.error,
                )
            held.items.append(entry.item)
            held.reason, held.error = entry.reason, entry.error
            self._positions.add(_key(entry.item))
        self.pause()
        self._count()

    def holds(self, here: Origin) -> bool:
        """Is the record at `here` held (not to be finished with its batch)?"""
        return (here.topic, here.partition, here.offset) in self._positions

    def partitions(self) -> set[tuple[str, int]]:
        """The assigned partitions of the held tenants' topics: paused until they are taken."""
        topics = {item.here.topic for held in self._tenants.values() for item in held.items}
        return {(tp.topic, tp.partition) for tp in self.consumer.assignment() if tp.topic in topics}

    def pause(self, *, at_most_every_s: float = 0.0) -> None:
        """(Re)pause the held tenants' partitions: a rebalance hands partitions over unpaused.
        With `at_most_every_s`, not more often (the sink's loop asks every turn, and listing a
        thousand tenants' partitions every 10 ms is work on its hot path)."""
        now = time.monotonic()
        if not self._tenants or now - self._paused_at < at_most_every_s:
            return
        self._paused_at = now
        self.consumer.pause([TopicPartition(t, p) for t, p in self.partitions()])

    def retry_due(self, attempt: Attempt, letters: list[DeadLetter]) -> list[Pending]:
        """Send the items of the tenants whose wait is over, in bulk requests bounded as the
        sink's batches are. Returns the items now finished (indexed, or refused for good into
        `letters`); the others wait on, twice as long. Tenants with nothing left waiting have
        their partitions resumed."""
        now = time.monotonic()
        due = [tenant for tenant, held in self._tenants.items() if held.due <= now]
        if not due:
            return []
        before = self.partitions()
        items = [item for tenant in due for item in self._tenants[tenant].items]
        waiting: list[Waiting] = []
        retry: list[Pending] = []
        error = ""
        for chunk in batches(items, self.max_records, self.max_bytes, _size):
            again, why = attempt(list(chunk), letters, waiting)
            retry += again
            error = error or why
        still = {id(entry.item) for entry in waiting} | {id(item) for item in retry}
        for tenant in due:
            held = self._tenants[tenant]
            held.items = [item for item in held.items if id(item) in still]
            if held.items:
                held.delay_s = min(self.max_s, held.delay_s * 2)
                held.due = now + self._jittered(held.delay_s)
                for entry in waiting:
                    if entry.item.tenant == tenant:
                        held.reason, held.error = entry.reason, entry.error
                if error and any(item.tenant == tenant for item in retry):
                    held.error = error
            else:
                del self._tenants[tenant]
                log.info("Elasticsearch takes tenant %s's records again: it resumes", tenant)
        finished = [item for item in items if id(item) not in still]
        self._positions -= {_key(item) for item in finished}
        free = before - self.partitions()
        if free:
            self.consumer.resume([TopicPartition(t, p) for t, p in free])
        self._count()
        return finished

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Partitions this worker no longer owns: their held items will be read by the new
        owner from the last commit; drop them here."""
        gone = {(tp.topic, tp.partition) for tp in partitions}
        for tenant in list(self._tenants):
            held = self._tenants[tenant]
            kept = [item for item in held.items if _key(item)[:2] not in gone]
            self._positions -= {_key(item) for item in held.items} - {_key(i) for i in kept}
            held.items = kept
            if not kept:
                del self._tenants[tenant]
        self._count()

    def _jittered(self, delay_s: float) -> float:
        return delay_s * random.uniform(0.5, 1.0)  # noqa: S311 - spreading retries, not secrets

    def _count(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        for tenant, held in self._tenants.items():
            counts[(tenant, held.reason)] = len(held.items)
        WAITING_RECORDS.clear()
        for (tenant, reason), count in counts.items():
            WAITING_RECORDS.labels(tenant=tenant, reason=reason).set(count)
        PAUSED_PARTITIONS.labels(component="sink").set(len(self.partitions()))


def _size(item: Pending) -> int:
    return len(item.document)


def _key(item: Pending) -> tuple[str, int, int]:
    """Where the sink read an item: topic, partition, offset."""
    return (item.here.topic, item.here.partition, item.here.offset)
