"""BatchConsumer replaces one private method of faust-streaming's consumer and relies on a few
private names around it. If an upgrade moves them, this fails before a worker silently stops
receiving records."""

import asyncio
import inspect
from pathlib import Path

import faust
from aiokafka.consumer import group_coordinator as aiokafka_coordinator
from aiokafka.structs import OffsetAndMetadata, TopicPartition
from faust.transport import consumer as faust_consumer
from faust.transport.conductor import Conductor
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from connectors.processor.transport import (
    FETCH_MAX_BYTES,
    FETCH_MAX_WAIT_MS,
    FETCH_MIN_BYTES,
    TRANSPORT,
    BatchConsumer,
    BatchConsumerThread,
    BatchTransport,
)


def test_the_faust_internals_batch_delivery_relies_on_are_there() -> None:
    base = faust_consumer.Consumer
    assert inspect.iscoroutinefunction(base._drain_messages)
    assert inspect.iscoroutinefunction(base._add_gap)
    assert "getmany" in vars(base)
    assert list(inspect.signature(base.ack).parameters) == ["self", "message"]
    source = inspect.getsource(base.__init__)
    assert "self._read_offset" in source
    assert "consumer_stopped_errors" in dir(faust_aiokafka.Consumer)
    # a rebalance commits before Faust forgets the revoked partitions' acknowledgements
    assert "self._acked.pop(tp" in inspect.getsource(base.on_partitions_revoked)
    assert list(inspect.signature(base._filter_committable_offsets).parameters) == ["self", "tps"]
    assert "_ensure_consumer" in vars(faust_aiokafka.AIOKafkaConsumerThread)
    assert inspect.iscoroutinefunction(faust_aiokafka.AIOKafkaConsumerThread.call_thread)
    commit_offsets = aiokafka_coordinator.GroupCoordinator.commit_offsets
    assert list(inspect.signature(commit_offsets).parameters) == ["self", "assignment", "offsets"]
    assert (
        "assignment"
        not in inspect.getsource(aiokafka_coordinator.GroupCoordinator._do_commit_offsets).split(
            ":", 1
        )[1]
    )  # the assignment we cannot give (None) is not used
    # the committed offsets of every assigned partition in one request after a rebalance:
    # Faust seeks through `seek_to_committed`, and the coordinator takes many partitions
    assert "self.seek_to_committed()" in inspect.getsource(base.perform_seek)
    fetch = aiokafka_coordinator.GroupCoordinator.fetch_committed_offsets
    assert list(inspect.signature(fetch).parameters) == ["self", "partitions"]
    # the resubscription delay the processor shortens
    assert isinstance(Conductor._resubscribe_sleep_lock_seconds, float)
    assert "_resubscribe_sleep_lock_seconds" in inspect.getsource(Conductor._subscriber.fun)


def test_faust_finds_the_batch_transport_by_its_entry_point() -> None:
    """The broker URL's scheme names the transport, through the `faust.transports` entry
    point (`pip install` registers it; `make setup` reinstalls when pyproject.toml changes)."""
    assert BatchTransport.Consumer is BatchConsumer
    assert issubclass(BatchConsumer, faust_aiokafka.Consumer)
    app = faust.App("logway-test-transport", broker=f"{TRANSPORT}://127.0.0.1:1")
    assert isinstance(app.transport, BatchTransport)


def test_only_the_transport_module_names_a_private_name_of_faust_or_aiokafka() -> None:
    """The issue's check: grep finds none elsewhere (the names this module says why it uses)."""
    root = Path(__file__).parents[3]
    names = (
        "_drain_messages",
        "_new_transport",
        "_filter_committable_offsets",
        "_read_offset",
        "_add_gap",
        "_ensure_consumer",
        "_coordinator",
        "_resubscribe_sleep_lock_seconds",
        "._stopped",
        "_new_consumer_thread",
        "_create_worker_consumer",
        "_fetch_min_bytes",
        "_fetch_max_wait_ms",
        "_fetch_max_bytes",
    )
    found = [
        f"{path.relative_to(root)}: {name}"
        for package in ("connectors", "logway", "streams", "topology")
        for path in (root / package).rglob("*.py")
        if path.name != "transport.py"
        for name in names
        if name in path.read_text()
    ]
    assert not found


class _Aiokafka:
    """What `_commit` asks of aiokafka's consumer: its assignment, and the commit."""

    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.asked = 0
        self.committed: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        self.asked += 1
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.committed.append({tp: meta.offset for tp, meta in offsets.items()})


def test_a_commit_asks_for_the_assignment_once_and_commits_only_what_is_assigned() -> None:
    """Faust's own `_commit` builds the assignment again for each offset: 1,000 partitions
    cost a million TopicPartitions per commit. Ours asks once, and still leaves out the
    offsets of partitions no longer assigned."""
    app = faust.App("logway-test-commit", broker=f"{TRANSPORT}://127.0.0.1:1")
    thread = app.consumer._thread
    assert isinstance(thread, BatchConsumerThread)
    assigned = {TopicPartition(f"logs.t{n}.raw", 0) for n in range(1000)}
    thread._consumer = aiokafka = _Aiokafka(assigned)
    offsets = {TP(f"logs.t{n}.raw", 0): n + 1 for n in range(1000)}
    offsets[TP("logs.gone.raw", 0)] = 7  # revoked meanwhile

    assert asyncio.run(thread._commit(offsets)) is True

    assert aiokafka.asked == 1
    assert aiokafka.committed == [{TopicPartition(f"logs.t{n}.raw", 0): n + 1 for n in range(1000)}]
    assert TP("logs.gone.raw", 0) not in thread.tp_last_committed_at
    # Faust's version still has the per-offset look this replaces; when it no longer does,
    # the copy can go
    assert "if tp in self.assignment()" in inspect.getsource(
        faust_aiokafka.AIOKafkaConsumerThread._commit
    )


def test_the_processors_fetches_wait_for_some_data_and_hold_a_bounded_amount() -> None:
    """Faust passes neither: its aiokafka consumer would answer every fetch at the first byte
    (1.5 s at most otherwise) and take up to 50 MiB in one response."""

    async def built() -> tuple[int, int, int]:
        app = faust.App("logway-test-fetch", broker=f"{TRANSPORT}://127.0.0.1:1")
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return consumer._fetch_min_bytes, consumer._fetch_max_wait_ms, consumer._fetch_max_bytes
        finally:
            await consumer.stop()

    assert asyncio.run(built()) == (FETCH_MIN_BYTES, FETCH_MAX_WAIT_MS, FETCH_MAX_BYTES)
