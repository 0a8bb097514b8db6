"""The Elasticsearch sink: processed topics in, tenant indices out, offsets committed last.

Contract, per batch:
1. consume up to `batch_max_records` records (and `batch_max_bytes`) from the served
   `logs.<tenant>.processed` topics;
2. bulk-index them with `_id` = the event id the processor derived from the record's origin,
   into the generation of its route that holds its time, so a record written twice overwrites
   itself (`request.py`, `index.py`, `service.py`); a route's first index, made by the
   request, is refreshed at once, so a new tenant's first lines are searchable when indexed
   (best effort: a first document parked or retried waits for the refresh interval);
3. retry only the items Elasticsearch refused for a passing reason (429, 5xx), with
   exponential backoff and jitter, partitions paused meanwhile: Kafka holds the backlog
   (`retry.py`). Items one tenant's index cannot take for a reason of the cluster (the shard
   limit, a block, a missing pipeline) are held with that tenant's partitions paused while the
   other tenants go on (`parking.py`); they are never dead-lettered;
4. dead-letter the items Elasticsearch can never take (mapping conflicts) to the tenant's DLQ,
   and wait for Kafka to acknowledge them (`deadletters.py`). A bulk refused whole for what it
   holds (400, 413) is split in halves down to the items to blame: the rest are indexed, never
   retried whole;
5. only then mark the batch's records finished (the held ones once taken) and commit what
   the offset tracker allows. A crash anywhere before 5 re-reads the batch.

Batches overlap: while a batch's bulk request is in Elasticsearch, the next batch is consumed
and prepared. It is sent when the first is done, or at once when it is full (up to
`bulks_in_flight` requests at a time); batches still finish (steps 3-5) one after the other.
Nobody waits for a batch to fill: under light load bulks are small and records searchable
soon; under heavy load each batch gathers what arrived while the others were indexed, up to
`batch_max_records` and `batch_max_bytes` (`gathered.py`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from elasticsearch import Elasticsearch

from connectors.elasticsearch.config import SinkConfig
from connectors.elasticsearch.deadletters import DeadLetterWriter
from connectors.elasticsearch.gathered import Gathered
from connectors.elasticsearch.index import Generations
from connectors.elasticsearch.parking import Parking
from connectors.elasticsearch.request import Pending, position, prepare
from connectors.elasticsearch.retry import PausedRetry, StoppedWhileRetrying
from connectors.elasticsearch.service import BulkService, ResponseReader, Waiting
from connectors.runtime.commit import commit
from connectors.runtime.offsets import OffsetTracker
from connectors.runtime.signals import stop_on_signals
from connectors.runtime.subscription import Subscription, TenantTopics, nudged_by_publications
from logway.core.deadletter import DeadLetter
from logway.core.discovery import tenant_matcher
from logway.core.lag import observe
from logway.core.loops import LOOPS
from logway.core.metrics import TenantMeters
from logway.core.names import PROCESSED_TOPIC_RE
from logway.core.origin import Origin

NO_TOPICS_WAIT_S = 0.5
SINK_MAX_SILENCE_S = 300.0
log = logging.getLogger("logway.sink")

GATHER_S = 0.01  # how long one look for more records lasts once there is work in hand


@dataclass
class Batch:
    """Consumed records on their way through Elasticsearch."""

    pending: list[Pending] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    positions: list[Origin] = field(default_factory=list)  # every record of the batch
    made: list[str] = field(default_factory=list)  # routes' first indices, made by this batch


@dataclass
class Flight:
    """A batch whose first bulk request is in Elasticsearch (`sent` gives what to retry)."""

    batch: Batch
    sent: Future[tuple[list[Pending], str]]


class ElasticsearchSink:
    """One sink worker. `run` until `stop` is set; see the module docstring for the contract."""

    def __init__(self, config: SinkConfig, *, es: Elasticsearch | None = None) -> None:
        self.config = config
        admin = AdminClient(config.kafka.client())
        self.consumer = Consumer(config.kafka.consumer(config.group_id, config.instance_id))
        self.producer = Producer(config.kafka.producer())
        self.offsets = OffsetTracker()
        topics = TenantTopics(
            admin,
            PROCESSED_TOPIC_RE,
            tenant_matcher(config.tenants_matching),
            config.discovery_interval_s,
        )
        self.subscription = Subscription(self.consumer, topics, on_revoke=self._revoked)
        self._publications = nudged_by_publications(
            config.kafka, topics, f"logway-sink-publications-{config.group_id}"
        )
        self._meters = TenantMeters("sink")
        es = es or config.es.client(request_timeout=60, serializer=ResponseReader())
        self.bulks = BulkService(es, self._meters)
        self.generations = Generations(es)
        # The sink's own loop, for /livez: a bulk request may take its 60 s, and splitting a
        # refused one several; waiting to retry beats every second.
        self.loop = LOOPS.add("sink", max_silence_s=SINK_MAX_SILENCE_S)
        self.parking = Parking(
            self.consumer,
            config.retry_initial_s,
            config.retry_max_s,
            max_records=config.batch_max_records,
            max_bytes=config.batch_max_bytes,
        )
        self.retry = PausedRetry(
            self.consumer,
            config.retry_initial_s,
            config.retry_max_s,
            self._held_late,
            held=self.parking.partitions,
            beat=self.loop.beat,
        )
        self.letters = DeadLetterWriter(self.producer, admin)
        # consumed, not yet sent: the next batch
        self._held = Gathered(config.batch_max_records, config.batch_max_bytes)

    def run(self, stop: threading.Event) -> None:
        """Consume, index and commit until `stop` is set, then finish the batches in
        Elasticsearch (records consumed but not yet sent stay uncommitted: they are read again)
        and close.
        """
        flights: deque[Flight] = deque()  # oldest first: landed one after the other
        try:
            with ThreadPoolExecutor(self.config.bulks_in_flight, "bulk") as bulks:
                while not stop.is_set():
                    self.loop.beat()
                    if not self.subscription.refresh():
                        stop.wait(NO_TOPICS_WAIT_S)  # a publication nudges the next look
                        continue
                    self._gather(busy=bool(flights))
                    if self.parking:
                        self._retry_parked()
                    if self._may_launch(len(flights)):
                        flights.append(self._launch(bulks))
                    elif not flights and self._held.full():
                        stop.wait(GATHER_S)  # held until the indices there are are known
                    if flights and (flights[0].sent.done() or self._held.full()):
                        self._land(flights.popleft(), stop)
                        if self._may_launch(len(flights)):
                            flights.append(self._launch(bulks))
                while flights:
                    self._land(flights.popleft(), stop)
        except StoppedWhileRetrying:
            log.warning("stopping with unfinished batches; they will be re-read, not lost")
        finally:
            self.consumer.close()
            self.producer.flush(30)

    def _may_launch(self, in_flight: int) -> bool:
        """Send the held records now? Always when Elasticsearch has nothing of ours; a further
        request only with a full batch, up to `bulks_in_flight`."""
        if not self._held or not self.generations.refresh():
            return False
        if not in_flight:
            return True
        return self._held.full() and in_flight < self.config.bulks_in_flight

    def _gather(self, *, busy: bool) -> None:
        """Add newly arrived records to the next batch, without waiting for it to fill.

        With a bulk in flight (or records already held), take what arrived within
        GATHER_S; otherwise wait up to `batch_max_wait_s` for one record, then GATHER_S for
        the ones right behind it.
        """
        room = self._held.room()
        if room <= 0:
            return
        if not busy and not self._held:
            first = self.consumer.poll(self.config.batch_max_wait_s)
            if first is None:
                return
            self._held.add([first])
            room = self._held.room()  # none left if that one record was over the bytes
        if room > 0:
            self._held.add(self.consumer.consume(num_messages=room, timeout=GATHER_S))

    def _held_late(self, message: Message) -> None:
        self._held.add([message])

    def _launch(self, bulks: ThreadPoolExecutor) -> Flight:
        """Prepare the held records as a batch and send its first bulk request on `bulks`."""
        messages = self._held.take()
        batch = Batch()
        now = datetime.now(UTC)
        read = self._meters.batch()
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", error)
                continue
            here = position(message)
            if here is None:
                continue
            self.offsets.read(here.topic, here.partition, here.offset)
            batch.positions.append(here)
            item = prepare(message, here, self.generations, now)
            read.read(item.tenant, len(message.value() or b""))
            if isinstance(item, DeadLetter):
                batch.letters.append(item)
            else:
                batch.pending.append(item)
        read.apply()
        batch.made = self.generations.made()
        if batch.pending:
            sent = bulks.submit(self.bulks.attempt, batch.pending, batch.letters, batch.waiting)
        else:  # only dead letters, or only Kafka's events: nothing for Elasticsearch
            sent = Future()
            sent.set_result(([], ""))
        return Flight(batch, sent)

    def _land(self, flight: Flight, stop: threading.Event) -> None:
        """Wait for a batch's first bulk request, retry what it left, dead-letter what
        Elasticsearch refused for good, then commit the batch's offsets."""
        batch = flight.batch
        retry, error = flight.sent.result()
        self.retry.run(
            self.bulks.attempt,
            retry,
            error,
            letters=batch.letters,
            waiting=batch.waiting,
            stop=stop,
        )
        if batch.waiting:
            self.parking.park(batch.waiting)
        if batch.made:
            self.bulks.make_searchable(batch.made, self.loop.beat)
        self._dead_letter(batch.letters)
        for here in batch.positions:
            if not self.parking.holds(here):
                self.offsets.finished(here.topic, here.partition, here.offset)
        commit(self.consumer, self.offsets.committable(), "sink")

    def _retry_parked(self) -> None:
        """Send again what the held tenants' indices could not take, when their wait is over;
        finish (and commit) what is taken now or refused for good."""
        self.parking.pause(at_most_every_s=1.0)
        letters: list[DeadLetter] = []
        finished = self.parking.retry_due(self.bulks.attempt, letters)
        if not finished:
            return
        self._dead_letter(letters)
        for item in finished:
            self.offsets.finished(item.here.topic, item.here.partition, item.here.offset)
        commit(self.consumer, self.offsets.committable(), "sink")

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        """Write these dead letters and wait for Kafka to acknowledge them; count them."""
        if letters:
            self.letters.write(letters)
            for letter in letters:
                self._meters.dead_lettered(letter.tenant, letter.reason)

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Their new owner reads from the last commit; this worker's batches in hand still
        # land (their commits are refused) and their ids make the re-reads overwrites.
        self.offsets.forget(partitions)
        self.parking.forget(partitions)
        self._held.forget(partitions)


def run_sink(config: SinkConfig, stop: threading.Event | None = None) -> None:
    """Run a sink worker until SIGINT/SIGTERM (or `stop`), committing what it finished."""
    stop = stop_on_signals(stop)
    log.info("sink starting: Kafka %s -> Elasticsearch %s", config.kafka, config.es)
    observe(
        component="sink",
        kafka=config.kafka,
        group=config.group_id,
        kind=PROCESSED_TOPIC_RE,
        serves=tenant_matcher(config.tenants_matching),
    )
    ElasticsearchSink(config).run(stop)
    log.info("sink stopped")
