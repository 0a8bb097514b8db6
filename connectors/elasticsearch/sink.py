"""The Elasticsearch sink: processed topics in, daily tenant indices out, offsets committed last.

Contract, per batch:
1. consume up to `batch_max_records` records from the served `logs.<tenant>.processed` topics;
2. bulk-index them with `_id` = the event id the processor derived from the record's origin,
   so a record written twice overwrites itself;
3. retry only the items Elasticsearch refused for a passing reason (429, 5xx, blocks), with
   exponential backoff and jitter, partitions paused meanwhile (Kafka holds the backlog);
4. dead-letter the items Elasticsearch can never take (mapping conflicts) to the tenant's DLQ,
   and wait for Kafka to acknowledge them. A bulk refused whole for what it holds (400, 413)
   is split in halves down to the items to blame: the rest are indexed, never retried whole;
5. only then commit the batch's offsets. A crash anywhere before 5 re-reads the batch.

Batches overlap: while a batch's bulk request is in Elasticsearch, the next batch is consumed
and prepared. It is sent when the first is done, or at once when it is full (up to
`bulks_in_flight` requests at a time); batches still finish (steps 3-5) one after the other,
so offsets are committed in order. Nobody waits for a batch to fill: under light load bulks
are small and records searchable soon; under heavy load each batch gathers what arrived while
the others were indexed, up to `batch_max_records`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from elasticsearch import ApiError, Elasticsearch, TransportError

from connectors.elasticsearch.classify import RetryReason, Verdict, classify_item
from connectors.elasticsearch.config import SinkConfig
from logway.core.deadletter import DeadLetter, Reason, Stage
from logway.core.discovery import served_topics, tenant_matcher, topic_config
from logway.core.document import BLOCK
from logway.core.limits import DEFAULT_MAX_RECORD_BYTES, max_value_bytes
from logway.core.metrics import (
    BULK_SECONDS,
    COMMIT_FAILURES,
    PAUSED_PARTITIONS,
    TenantMeters,
    observe,
)
from logway.core.names import (
    DEFAULT_ROUTE,
    PROCESSED_TOPIC_RE,
    ROUTE_NAME_RE,
    dlq_topic,
    index_name,
)
from logway.core.origin import Origin

log = logging.getLogger("logway.sink")

# What the sink reads of a bulk response; leaving out each item's index, id, version, shards
# and sequence numbers spares Elasticsearch writing them and the sink parsing them.
BULK_RESPONSE_FIELDS = "errors,items.*.status,items.*.error"
GATHER_S = 0.01  # how long one look for more records lasts once there is work in hand
# Whole-request refusals caused by what the request holds, never fixed by sending it again:
# 400 (e.g. an `_id` over 512 bytes) and 413 (over http.max_content_length). The sink splits
# such a bulk to find the items to blame. Other statuses (401/403, 429, 5xx) are about the
# cluster or the sink's login, and are retried whole.
REFUSED_FOR_ITS_ITEMS = frozenset({400, 413})


class SinkError(RuntimeError):
    """The sink cannot go on without losing data (e.g. a dead letter Kafka refused)."""


class StoppedWhileRetrying(Exception):  # noqa: N818 - a stop request, not an error
    """Shutdown was asked while Elasticsearch still refused the batch; it is not committed."""


@dataclass
class Pending:
    """One processed record on its way to Elasticsearch."""

    message: Message
    tenant: str
    event_id: str
    index: str
    document: bytes
    source: Origin


@dataclass
class Batch:
    """Consumed records on their way through Elasticsearch, and the offsets to commit after."""

    pending: list[Pending] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)


@dataclass
class Flight:
    """A batch whose first bulk request is in Elasticsearch (`sent` gives what to retry)."""

    batch: Batch
    sent: Future[tuple[list[Pending], str]]


# How far from its arrival an event's own day may place it (days before, days after). Further
# out, the arrival day does: a tenant cannot make an index per day of the calendar (each is a
# shard of the shared cluster) by sending records with far-flung timestamps.
EVENT_DAYS_BEFORE_ARRIVAL = 7
EVENT_DAYS_AFTER_ARRIVAL = 1


def document_index(tenant: str, document: dict[str, Any]) -> str:
    """The daily index of a document's route: the day of its `@timestamp`, when that is within
    a week before (or a day after) its arrival (`logway.received_at`); else of its arrival.

    The route is the one the processor chose (`logway.route`); a name that is not a route name
    falls back to the default route, so no record can create an index outside the tenant's
    templates.
    """
    meta = document.get("logway")
    meta = meta if isinstance(meta, dict) else {}
    route = meta.get("route")
    if not isinstance(route, str) or not ROUTE_NAME_RE.match(route):
        route = DEFAULT_ROUTE
    received = meta.get("received_at")
    arrival = received[:10] if isinstance(received, str) else datetime.now(UTC).date().isoformat()
    stamp = document.get("@timestamp")
    event = stamp[:10] if isinstance(stamp, str) else _day_of(stamp)
    return _daily_index(tenant, event, arrival, route)


@lru_cache(maxsize=4096)
def _daily_index(tenant: str, event: str | date | None, arrival: str, route: str) -> str:
    """`index_name` of the day chosen from an event's day and its arrival day (ISO text);
    cached, as a batch's records share a few days (the name's date formatting was 8% of the
    sink's time under load)."""
    arrived = _day_of(arrival) or datetime.now(UTC).date()
    day = event if isinstance(event, date) else _day_of(event)
    if day is None or not (
        -EVENT_DAYS_BEFORE_ARRIVAL <= (day - arrived).days <= EVENT_DAYS_AFTER_ARRIVAL
    ):
        day = arrived
    return index_name(tenant, day, route)


def _day_of(value: object) -> date | None:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    return None


class ElasticsearchSink:
    """One sink worker. `run` until `stop` is set; see the module docstring for the contract."""

    def __init__(
        self,
        config: SinkConfig,
        *,
        es: Elasticsearch | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.es = es or Elasticsearch(config.es_url, request_timeout=60)
        self._sleep = sleep
        self._serves = tenant_matcher(config.tenants_matching)
        self._admin = AdminClient(config.kafka.client())
        self.consumer = Consumer(config.kafka.consumer(config.group_id, config.instance_id))
        self.producer = Producer(config.kafka.producer())
        self._subscribed: list[str] = []
        self._next_discovery = 0.0
        self._meters = TenantMeters("sink")
        self._bulk_seconds = BULK_SECONDS.labels(component="sink")
        self._batch_max = config.batch_max_records
        self._held: list[Message] = []  # consumed, not yet sent: the next batch
        self._value_limits: dict[str, int] = {}  # DLQ topic -> largest record value it takes

    def run(self, stop: threading.Event) -> None:
        """Consume, index and commit until `stop` is set, then finish the batches in
        Elasticsearch (records consumed but not yet sent stay uncommitted: they are read again)
        and close.
        """
        flights: deque[Flight] = deque()  # oldest first: landed, and so committed, in order
        try:
            with ThreadPoolExecutor(self.config.bulks_in_flight, "bulk") as bulks:
                while not stop.is_set():
                    if not self._refresh_subscription():
                        stop.wait(self.config.discovery_interval_s)
                        continue
                    self._gather(busy=bool(flights))
                    if self._may_launch(len(flights)):
                        flights.append(self._launch(bulks))
                    full = len(self._held) >= self._batch_max
                    if flights and (flights[0].sent.done() or full):
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
        if not self._held:
            return False
        if not in_flight:
            return True
        full = len(self._held) >= self._batch_max
        return full and in_flight < self.config.bulks_in_flight

    def _gather(self, *, busy: bool) -> None:
        """Add newly arrived records to the next batch, without waiting for it to fill.

        With a bulk in flight (or records already held), take what arrived within
        GATHER_S; otherwise wait up to `batch_max_wait_s` for one record, then GATHER_S for
        the ones right behind it.
        """
        room = self._batch_max - len(self._held)
        if room <= 0:
            return
        if not busy and not self._held:
            first = self.consumer.poll(self.config.batch_max_wait_s)
            if first is None:
                return
            self._held.append(first)
            room -= 1
        if room > 0:
            self._held.extend(self.consumer.consume(num_messages=room, timeout=GATHER_S))

    def _refresh_subscription(self) -> bool:
        now = time.monotonic()
        if now < self._next_discovery:
            return bool(self._subscribed)
        self._next_discovery = now + self.config.discovery_interval_s
        try:
            topics = served_topics(self._admin, PROCESSED_TOPIC_RE, self._serves)
        except KafkaException as exc:
            log.warning("listing topics failed, will retry: %s", exc)
            return bool(self._subscribed)
        if topics and topics != self._subscribed:
            added = sorted(set(topics) - set(self._subscribed))
            log.info("subscribing to %d processed topic(s); new: %s", len(topics), added)
            self.consumer.subscribe(topics)
            self._subscribed = topics
        elif not topics and not self._subscribed:
            log.warning(
                "no processed topics for tenants matching %r yet; run `logway apply` (waiting)",
                self.config.tenants_matching,
            )
        return bool(self._subscribed)

    def _launch(self, bulks: ThreadPoolExecutor) -> Flight:
        """Prepare the held records as a batch and send its first bulk request on `bulks`."""
        messages, self._held = self._held, []
        batch = Batch()
        read = self._meters.batch()
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", error)
                continue
            position = _position(message)
            if position is None:
                continue
            batch.offsets[(position.topic, position.partition)] = position.offset + 1
            item = self._prepare(message, position)
            read.read(item.tenant, len(message.value() or b""))
            if isinstance(item, DeadLetter):
                batch.letters.append(item)
            else:
                batch.pending.append(item)
        read.apply()
        sent: Future[tuple[list[Pending], str]] = bulks.submit(
            self._attempt, batch.pending, batch.letters
        )
        return Flight(batch, sent)

    def _land(self, flight: Flight, stop: threading.Event) -> None:
        """Wait for a batch's first bulk request, retry what it left, dead-letter what
        Elasticsearch refused for good, then commit the batch's offsets."""
        batch = flight.batch
        retry, error = flight.sent.result()
        self._retry(retry, error, batch.letters, stop)
        if batch.letters:
            self._dead_letter(batch.letters)
            for letter in batch.letters:
                self._meters.dead_lettered(letter.tenant, letter.reason)
        self._commit(batch.offsets)

    def _prepare(self, message: Message, here: Origin) -> Pending | DeadLetter:
        match = PROCESSED_TOPIC_RE.match(here.topic)
        tenant = match.group(1) if match else here.topic
        value = message.value() or b""
        try:
            document = orjson.loads(value)
            meta = document[BLOCK]
            source = Origin.model_validate(meta["origin"])
            event_id = str(meta["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return DeadLetter.build(
                tenant=tenant,
                stage=Stage.SINK,
                step="decode",
                reason=Reason.INVALID_JSON,
                error=f"processed record is not a logway document: {exc}",
                original=value,
                source=here,
            )
        return Pending(message, tenant, event_id, document_index(tenant, document), value, source)

    def _retry(
        self,
        pending: list[Pending],
        error: str,
        letters: list[DeadLetter],
        stop: threading.Event,
    ) -> None:
        """Bulk-index `pending`, which Elasticsearch refused for now, until every item is
        indexed or refused for good; partitions stay paused meanwhile."""
        delay = self.config.retry_initial_s
        paused = False
        try:
            while pending:
                if stop.is_set():
                    raise StoppedWhileRetrying
                if not paused:
                    assignment = self.consumer.assignment()
                    self.consumer.pause(assignment)
                    PAUSED_PARTITIONS.labels(component="sink").set(len(assignment))
                    paused = True
                log.warning(
                    "Elasticsearch refused %d item(s) for now, retrying in %.1fs: %s",
                    len(pending),
                    delay,
                    error,
                )
                self._wait(delay)
                delay = min(self.config.retry_max_s, delay * 2)
                pending, error = self._attempt(pending, letters)
        finally:
            if paused:
                self.consumer.resume(self.consumer.assignment())
                PAUSED_PARTITIONS.labels(component="sink").set(0)

    def _attempt(
        self, pending: list[Pending], letters: list[DeadLetter]
    ) -> tuple[list[Pending], str]:
        """One bulk request: count what was indexed, collect dead letters, return what to retry.

        A request refused whole for what it holds (400, 413) is split, see `_split`.
        """
        started = time.perf_counter()
        try:
            # Pre-serialised NDJSON lines: the processed record is indexed byte for byte.
            response = self.es.bulk(
                operations=_bulk_body(pending),  # type: ignore[arg-type]
                filter_path=BULK_RESPONSE_FIELDS,
            )
        except (TransportError, ApiError) as exc:
            if isinstance(exc, ApiError) and exc.meta.status in REFUSED_FOR_ITS_ITEMS:
                return self._split(pending, letters, exc)
            overloaded = isinstance(exc, ApiError) and exc.meta.status == 429
            why = RetryReason.OVERLOADED if overloaded else RetryReason.UNAVAILABLE
            for item in pending:
                self._meters.retried(item.tenant, why)
            return pending, f"bulk request failed: {exc}"
        finally:
            self._bulk_seconds.observe(time.perf_counter() - started)
        if response.get("errors") is False:  # every item indexed: no need to look at each
            for tenant, count in Counter(item.tenant for item in pending).items():
                self._meters.finished(tenant, "indexed", count)
            return [], ""
        retry: list[Pending] = []
        error = ""
        for item, entry in zip(pending, response["items"], strict=True):
            verdict = classify_item(entry)
            if verdict.verdict is Verdict.INDEXED:
                self._meters.finished(item.tenant, "indexed")
            elif verdict.verdict is Verdict.RETRY:
                retry.append(item)
                error = verdict.error
                self._meters.retried(item.tenant, verdict.retry or RetryReason.UNAVAILABLE)
            else:
                letters.append(self._refused(item, verdict.reason, verdict.error))
        return retry, error

    def _split(
        self, pending: list[Pending], letters: list[DeadLetter], refusal: ApiError
    ) -> tuple[list[Pending], str]:
        """A bulk refused whole for what is in it (see `REFUSED_FOR_ITS_ITEMS`): send each half
        on its own, down to the items to blame, which are dead-lettered with Elasticsearch's
        reason. The others are indexed; one bad record never holds back a batch."""
        if len(pending) == 1:
            item = pending[0]
            if refusal.meta.status == 413:
                reason = Reason.TOO_LARGE
                error = (
                    f"a {len(item.document)}-byte document is over Elasticsearch's request "
                    "size limit (http.max_content_length)"
                )
            else:
                reason = Reason.INDEX_REJECTED
                error = f"Elasticsearch refused the request for this record alone: {refusal}"
            letters.append(self._refused(item, reason, error[:2000]))
            return [], ""
        half = len(pending) // 2
        log.info(
            "Elasticsearch refused a bulk of %d whole (%d); splitting it to find the record(s) "
            "to blame",
            len(pending),
            refusal.meta.status,
        )
        first, first_error = self._attempt(pending[:half], letters)
        second, second_error = self._attempt(pending[half:], letters)
        return first + second, first_error or second_error

    def _wait(self, delay: float) -> None:
        """Sleep with jitter while keeping the consumer's group membership alive."""
        deadline = time.monotonic() + delay * random.uniform(0.5, 1.0)  # noqa: S311
        while (left := deadline - time.monotonic()) > 0:
            # Paused: this serves callbacks and keeps the group membership. Should a record
            # fetched before the pause still come, it joins the next batch. Partitions a
            # cooperative rebalance hands over meanwhile arrive unpaused: pause them too.
            self.consumer.pause(self.consumer.assignment())
            late = self.consumer.poll(min(left, 1.0))
            if late is not None:
                self._held.append(late)

    def _refused(self, item: Pending, reason: Reason | None, error: str) -> DeadLetter:
        return DeadLetter.build(
            tenant=item.tenant,
            stage=Stage.SINK,
            step="bulk",
            reason=reason or Reason.INDEX_REJECTED,
            error=error,
            original=item.document,
            source=item.source,
        )

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        failures: list[str] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err.str())

        for letter in letters:
            topic = dlq_topic(letter.tenant)
            self.producer.produce(
                topic,
                key=letter.event_id.encode(),
                value=letter.fitted(self._value_limit(topic)),
                on_delivery=delivered,
            )
        remaining = self.producer.flush(60)
        if failures or remaining:
            raise SinkError(
                f"{len(failures) + remaining} dead letter(s) not acknowledged by Kafka "
                f"({'; '.join(failures[:3])}); not committing, the batch will be re-read"
            )

    def _value_limit(self, topic: str) -> int:
        """The largest record value `topic` takes: its max.message.bytes less the framing,
        looked up once; if Kafka cannot say, the smallest limit a tenant may declare."""
        limit = self._value_limits.get(topic)
        if limit is None:
            limit = DEFAULT_MAX_RECORD_BYTES
            try:
                limit = int(topic_config(self._admin, topic, "max.message.bytes") or limit)
            except KafkaException as exc:
                log.warning("cannot read %s's record limit, assuming 1 MiB: %s", topic, exc)
            limit = max_value_bytes(limit)
            self._value_limits[topic] = limit
        return limit

    def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        if not offsets:
            return
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            self.consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as exc:
            # E.g. partitions revoked by a rebalance meanwhile: their new owner re-reads them,
            # and the deterministic _id turns that into overwrites.
            COMMIT_FAILURES.labels(component="sink").inc()
            log.warning("commit failed, the batch will be re-read: %s", exc)


def _position(message: Message) -> Origin | None:
    """Where a consumed record sits (None only for error events, which carry no position)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        return None
    return Origin(topic=topic, partition=partition, offset=offset)


def _bulk_body(pending: list[Pending]) -> list[bytes]:
    body: list[bytes] = []
    for item in pending:
        body.append(orjson.dumps({"index": {"_index": item.index, "_id": item.event_id}}))
        body.append(item.document)
    return body


def run_sink(config: SinkConfig, stop: threading.Event | None = None) -> None:
    """Run a sink worker until SIGINT/SIGTERM (or `stop`), committing what it finished."""
    import signal

    stop = stop or threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("sink starting: Kafka %s -> Elasticsearch %s", config.kafka, config.es_url)
    observe(
        port=config.metrics_port,
        component="sink",
        kafka=config.kafka,
        group=config.group_id,
        kind=PROCESSED_TOPIC_RE,
        serves=tenant_matcher(config.tenants_matching),
    )
    ElasticsearchSink(config).run(stop)
    log.info("sink stopped")
