"""Faust's Kafka transport, with fetched records handed over a batch at a time.

Profiling the processor (py-spy, 150,000 records, see the README's benchmark section) showed
Faust's per-record delivery, not Kafka, JSON or the tenant pipeline, as the cost: for every
record the fetcher awaits `wait_first(callback(message), suspend_flow.wait())`, which creates
two tasks and an `asyncio.wait`, then the conductor puts the event on a channel queue and the
stream iterator takes it off again and acks it. Together that was about 150 µs of CPU per
record, the pipeline itself under 10.

So this consumer keeps everything Faust does around the records (group membership, partition
assignment, rebalancing, flow control, gap tracking, the acked-offset bookkeeping that commits
only contiguous acknowledged offsets, the commit loop) and replaces only the drain loop: each
`getmany` round becomes one list handed to `batch_handler`. The handler acks messages with
`Consumer.ack` once what they produced is acknowledged; an unacked message holds back the
commit of its partition at its offset, exactly as an unacked event does in a Faust stream.

Light traffic: a round that brought less than a quarter of a full batch is followed by a
pause of up to `linger_s` (counted from its first record) before the next `getmany`,
while aiokafka's fetcher keeps fetching. A backlog's rounds are full, or short only where a
fetch ran out, and are not held back. Without the pause, 5,000 lines/s arrived as ~220
batches of ~24 records a second, and the per-batch cost (a cross-thread `getmany`, a
producer flush, Kafka requests) took three times the CPU per record of a full batch, from
the machine Elasticsearch needs.

Rebalances: Faust forgets a revoked partition's acknowledged offsets without committing them,
and commits only every `broker_commit_interval`, so every rebalance (each new tenant's topic
is one) read up to a second of finished records again, and produced their dead letters
twice. This consumer stops the flow, finishes the batch in hand (a batch already fetched is
queued on the same lock before the revocation, so it is finished too; none is fetched after the
flow stops), commits what is acknowledged, and only then lets Faust revoke.

Faust finds this transport through its documented extension point, the `faust.transports`
entry point (`pyproject.toml`), by the broker URL's scheme, `logway://`.

This module is the only one that touches private names of Faust and aiokafka, each because no
public one does the job: the drain loop (`_drain_messages`, a modified copy of Faust's own, and
what it reads: `_stopped`, `_read_offset`, `_add_gap`); the commit of a revoked partition's
acknowledged offsets before Faust forgets them (`_filter_committable_offsets`, `_thread`, the
aiokafka coordinator); the committed offsets of every assigned partition asked for in one
request after a rebalance (`seek_to_committed`, with `_ensure_consumer` and the coordinator
again); the commit, whose assignment Faust builds again per offset (`_commit`, a modified
copy of Faust's, on a consumer thread of our own: `_new_consumer_thread`); the fetch
settings Faust does not pass (`_create_worker_consumer`, aiokafka's `_fetch_*`); and the
conductor's resubscription delay (`resubscribe_after`). Built
against faust-streaming 0.15.3 (pinned); `tests/unit/connectors/test_transport.py` checks every
one of them, so an upgrade that moves one fails there first, not in a worker that silently
stops receiving records.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from time import monotonic
from typing import Any

from aiokafka.errors import CommitFailedError  # type: ignore[import-untyped]
from aiokafka.structs import OffsetAndMetadata, TopicPartition  # type: ignore[import-untyped]
from faust.transport.drivers import aiokafka as faust_aiokafka

from logway.core.kafka import FETCH_MAX_WAIT_MS, FETCH_MIN_BYTES

BatchHandler = Callable[[list[Any]], Awaitable[None]]
TRANSPORT = "logway"  # the broker URL scheme the entry point registers
# What one fetch may bring over all partitions (aiokafka's default is 50 MiB): a backlog
# spread over 1,000 partitions came whole in one response, on top of its decoded records.
FETCH_MAX_BYTES = 8 * 1024 * 1024


def resubscribe_after(app: Any, seconds: float) -> None:
    """Make the app's conductor resubscribe `seconds` after a subscription changes (Faust
    waits 45 s, most of a new tenant's wait for its first line; there is no setting for it)."""
    app.topics._resubscribe_sleep_lock_seconds = seconds


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, whose commit takes time linear in the partitions."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        """Faust's aiokafka consumer, with fetches that wait for a little data and hold at
        most FETCH_MAX_BYTES (Faust sets neither; see FETCH_MIN_BYTES)."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_min_bytes = FETCH_MIN_BYTES
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        consumer._fetch_max_bytes = FETCH_MAX_BYTES
        return consumer

    async def _commit(self, offsets: Mapping[Any, int]) -> bool:
        """Faust's own, but for the assignment, asked for once: Faust's builds the whole
        assignment as a new set for every offset it commits, a million TopicPartitions per
        commit at 1,000 tenants, on the thread the fetches run on (a tenth of the processor's
        samples in py-spy at 1,000 tenants)."""
        consumer = self._ensure_consumer()
        now = monotonic()
        assigned = self.assignment()
        committable = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        try:
            self.tp_last_committed_at.update(dict.fromkeys(committable, now))
            await consumer.commit(
                {
                    TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(offset, "")
                    for tp, offset in committable.items()
                }
            )
        except CommitFailedError as exc:
            if "already rebalanced" in str(exc):
                return False
            self.log.exception("Committing raised exception: %r", exc)
            await self.crash(exc)
            return False
        except Exception as exc:
            self.log.exception("Got exception: %r\nCurrent assignment: %r", exc, assigned)
            await self.crash(exc)
            return False
        return True


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer whose fetcher hands whole batches to `batch_handler`."""

    batch_handler: BatchHandler | None = None
    linger_s: float = 0.0  # least time between rounds of less than a quarter of a batch
    _batch_lock: asyncio.Lock | None = None

    def _new_consumer_thread(self) -> BatchConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _lock(self) -> asyncio.Lock:
        if self._batch_lock is None:
            self._batch_lock = asyncio.Lock()
        return self._batch_lock

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """Finish the batch in hand and commit what is acknowledged, then revoke."""
        self.stop_flow()  # no further record of the old assignment is handed over
        async with self._lock():
            offsets = self._filter_committable_offsets(revoked)
            if offsets:
                try:
                    await self._thread.call_thread(_commit_as_member, self._thread, offsets)
                except Exception as exc:  # the group moved on: the next owner reads them again
                    self.log.warning("commit before revoking failed: %r", exc)
            await super().on_partitions_revoked(revoked)

    async def seek_to_committed(self) -> Mapping[Any, int]:
        """Seek every assigned partition to its committed offset, asking the group
        coordinator once for all of them. aiokafka asks once per partition, one after
        another: with 1,000 tenants that was 1.0 s of every rebalance, each new tenant's
        among them."""
        offsets: Mapping[Any, int] = await self._thread.call_thread(
            _seek_all_to_committed, self._thread
        )
        return offsets

    async def exclusive(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` between batches, never while a revocation commits."""
        async with self._lock():
            await work()

    async def _rest(self, started: float, fetched: int, light: int) -> None:
        """After a light round, linger (see the module's docstring); after none, yield."""
        pause = started + self.linger_s - asyncio.get_running_loop().time()
        if fetched < light and pause > 0:
            await asyncio.sleep(pause)
        elif not fetched:
            await asyncio.sleep(0)

    async def _drain_messages(self, fetcher: Any) -> None:
        handler = self.batch_handler
        if handler is None:
            raise RuntimeError("BatchConsumer started without a batch_handler")
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        loop = asyncio.get_running_loop()
        light = int(self.app.conf.broker_max_poll_records or 0) // 4  # no limit: no linger
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                started = loop.time()
                batch: list[Any] = []
                async for tp, message in self.getmany(timeout=1.0):
                    if not batch:  # the linger counts from the round's first record
                        started = loop.time()
                    offset = message.offset
                    read = get_read_offset(tp)
                    if read is not None and offset < read:
                        continue  # already read (a seek back after a rebalance)
                    if read and offset - read > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, read + 1, offset)  # compaction or markers
                    set_read_offset(tp, offset)
                    batch.append(message)
                if batch:
                    # queued on the lock at once: a revocation that starts now waits for it
                    await self.exclusive(functools.partial(handler, batch))
                await self._rest(started, len(batch), light)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise


async def _seek_all_to_committed(thread: Any) -> dict[Any, int | None]:
    """On the consumer's thread: the committed offset of every assigned partition, in one
    OffsetFetch request, and each partition that has one sought to it (as aiokafka's own
    `seek_to_committed` does, partition by partition)."""
    consumer = thread._ensure_consumer()
    partitions = consumer.assignment()
    if not partitions:
        return {}
    committed = await consumer._coordinator.fetch_committed_offsets(partitions)
    offsets: dict[Any, int | None] = {}
    for tp in partitions:
        found = committed.get(tp)
        offset = found.offset if found is not None and found.offset != -1 else None
        offsets[tp] = offset
        if offset:
            consumer.seek(tp, offset)
    return offsets


async def _commit_as_member(thread: Any, offsets: dict[Any, int]) -> None:
    """Commit `offsets` as the group member this consumer still is while its partitions are
    being revoked. On the consumer's thread. aiokafka's `commit` refuses here when the
    rebalance is a new subscription (its assignment is already gone), so this asks the group
    coordinator directly, as aiokafka's own auto-commit does before a rebalance."""
    coordinator = thread._ensure_consumer()._coordinator
    await coordinator.commit_offsets(
        None,
        {
            TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(o, "")
            for tp, o in offsets.items()
        },
    )


class BatchTransport(faust_aiokafka.Transport):
    """The aiokafka transport, consuming with `BatchConsumer`."""

    Consumer = BatchConsumer
