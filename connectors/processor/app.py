"""The processor's Faust app: one agent over every served tenant's `logs.<tenant>.raw`.

Faust does what it is good at here: group membership, partition assignment, rebalancing,
flow control, offset bookkeeping, and the agent that runs the records. The records are handed
to the agent a fetch round at a time (`connectors.processor.transport` and
`connectors.processor.agent`: Faust's per-record delivery was the processor's main cost), run
through each tenant's compiled pipeline (`streams.pipeline`) and produced with one
confluent-kafka producer (acks=all, idempotent).

Delivery (at-least-once, nothing lost on `kill -9`):
- a batch's messages are acked to Faust (so their offsets may be committed) only after every
  record produced from the batch is acknowledged by Kafka; a failed or timed-out delivery ends
  the process at once (exit 70), before any ack, so the batch is read again after the restart;
- a piece of a split line, or a line of a multi-line event, is held: its message is not
  acked, so Faust commits no offset at or past it until the line or event is complete and
  produced (see `streams.steps.reassemble` and `streams.steps.multiline`);
- one batch at a time per worker, in offset order per partition (faust-streaming #606:
  concurrent agents can commit past an in-flight record);
- outputs are keyed by the event id, which the sink uses as `_id`, so records processed again
  after a crash overwrite their earlier copies downstream.

Faust's `Topic(pattern=...)` does not subscribe with the aiokafka driver, so the worker lists the
broker's topics itself every `discovery_interval_s`, and at once when a tenant is published,
and resubscribes when a tenant appears: 0.2 s later rather than after Faust's 45 s, since a
rebalance commits what was finished before Faust revokes (`connectors.processor.transport`).
A topic is consumed only once its tenant's version is published and read (`UnpublishedTopics`),
and a starting worker waits for all of them, so no record goes through a default pipeline, and
a deleted tenant's records wait in Kafka instead of going through its last version.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import faust
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from connectors.processor.agent import round_agent
from connectors.processor.assignor import EvenAssignor
from connectors.processor.config import ProcessorConfig
from connectors.processor.faust_settings import faust_credentials, faust_group
from connectors.processor.limits import TenantLimits
from connectors.processor.pods import PodTable
from connectors.processor.startup import (
    UnpublishedTopics,
    partition_counts,
    wait_for_registry,
    wait_for_topics,
)
from connectors.processor.tenants import TenantPipelines
from connectors.processor.transport import TRANSPORT, BatchConsumer, resubscribe_after
from connectors.runtime.commit import Deliveries, DeliveryError
from connectors.runtime.subscription import TenantTopics, nudged_by_publications
from logway.core.agent import agent_line
from logway.core.document import Flag
from logway.core.health import READINESS
from logway.core.kubernetes import PODS_TOPIC
from logway.core.lag import observe
from logway.core.loops import LOOPS
from logway.core.metrics import MeterBatch, TenantMeters
from logway.core.names import RAW_TOPIC_RE, tenant_of_topic
from logway.core.origin import event_id_header
from streams.pipeline import Outcome, Output
from streams.steps.base import Record
from streams.steps.select import RATE_LIMITED
from topology.model import Limits, OverLimit
from topology.registry import TenantRegistry

POD_TABLE_WAIT_S = 30.0
DISCOVERY_TICK_S = 0.5
EVENT_LOOP_MAX_SILENCE_S = 120.0  # a batch's produce waits at most 60 s, off the loop
LIMITS_TICK_S = 0.05  # how often tenants paused for their rate limit are looked at
DEFAULT_LIMITS = Limits()
# Faust's conductor waits this long after a subscription change before it resubscribes (its
# default, 45 s, was most of a new tenant's wait). A rebalance no longer reads finished
# records twice (`connectors.processor.transport`), so there is nothing to save by waiting.
RESUBSCRIBE_AFTER_S = 0.2
log = logging.getLogger("logway.processor")
EXIT_DELIVERY_FAILED = 70
HeldKey = tuple[str, int, int]  # topic, partition, offset


def tenant_limits(registry: TenantRegistry, tenant: str) -> Limits:
    """The tenant's live `limits`; a tenant never published has the defaults."""
    published = registry.get(tenant)
    return published.spec.limits if published is not None else DEFAULT_LIMITS


class BatchProcessor:
    """Runs batches of raw events through their tenants' pipelines and produces the outcomes.

    Contract of `handle` and `expire`: when they return, every output they produced is
    acknowledged by Kafka, and the events whose offsets may now be committed have been acked
    (`ack`); a delivery failure never returns (the process exits, nothing is acked).
    """

    def __init__(
        self,
        pipelines: TenantPipelines,
        producer: Producer,
        ack: Callable[[Any], Any],
        limits: TenantLimits | None = None,
    ) -> None:
        self.pipelines = pipelines
        self.deliveries = Deliveries(producer, "processed record(s)")
        self.ack = ack
        self.limits = limits
        self.waiting: dict[str, list[Any]] = {}  # tenant -> records over its rate, in order
        self.meters = TenantMeters("processor")
        self.held: dict[HeldKey, Any] = {}
        self._tenants: dict[str, str] = {}  # raw topic -> tenant
        self._lock = asyncio.Lock()

    def _tenant(self, topic: str) -> str:
        tenant = self._tenants.get(topic)
        if tenant is None:
            tenant = self._tenants[topic] = tenant_of_topic(topic) or topic
        return tenant

    async def handle(self, messages: Iterable[Any]) -> None:
        """Process fetched Faust messages (value and key are the raw bytes)."""
        async with self._lock:
            await self._process(messages, counted=False)

    async def release_waiting(self) -> None:
        """Process the records set aside for tenants whose rate allows it again; a tenant
        none of whose records wait any more is resumed."""
        if not self.waiting or self.limits is None:
            return
        async with self._lock:
            ready = [
                t for t in self.waiting if self.pipelines.published(t) and self.limits.ready(t)
            ]
            for tenant in ready:
                await self._process(self.waiting.pop(tenant), counted=True)  # may set aside again
                if tenant not in self.waiting:
                    self.limits.release(tenant)

    async def _process(self, messages: Iterable[Any], *, counted: bool) -> None:
        released: list[HeldKey] = []
        done: list[Any] = []
        outputs: list[Output] = []
        meters = self.meters.batch()
        pipelines: dict[str, Any] = {}  # looked up once per tenant and batch, not per record
        published: dict[str, bool] = {}  # likewise
        for message in messages:
            tenant = self._tenant(message.topic)
            value = message.value
            if not counted:  # records set aside were counted when they were first read
                meters.read(tenant, len(value) if value else 0)
            live = published.get(tenant)
            if live is None:
                live = published[tenant] = self.pipelines.published(tenant)
            over = self._over_limit(tenant, message, published=live)
            if over == "drop":
                meters.dropped(tenant, RATE_LIMITED.why)
                done.append(message)
            if over is not None:
                continue
            record = Record(
                message.topic,
                message.partition,
                message.offset,
                message.key,
                int(message.timestamp * 1000) if message.timestamp else 0,
            )
            if message.headers:
                _name_by_headers(record, message.headers, value, tenant)
            pipeline = pipelines.get(tenant)
            if pipeline is None:
                pipeline = pipelines[tenant] = self.pipelines.get(tenant)
            outcome = pipeline.process(value, record)
            if outcome.held:  # not committable until its line or event is produced
                self.held[(message.topic, message.partition, message.offset)] = message
                if outcome.output is None and outcome.dropped is None:
                    continue  # it carries nothing of an earlier event either
            else:
                done.append(message)
            self._finish(
                meters,
                tenant,
                outcome,
                topic=message.topic,
                partition=message.partition,
                released=released,
                outputs=outputs,
            )
        self._produce_all(outputs)
        await self._flushed_then_release(released, done)
        meters.apply()

    def _over_limit(self, tenant: str, message: Any, *, published: bool) -> OverLimit | None:
        """None when the record may be processed now. Else what its tenant's `limits` make of
        it: `drop` (the caller drops it), or `delay`: it is set aside in `waiting` and the
        tenant's partitions paused. Behind records set aside a record waits too, so a
        tenant's records keep their order. A tenant without a published version (deleted
        while its topic was consumed) is delayed until it is published again: Kafka holds
        its records, and none is processed with the version it had."""
        waiting = self.waiting.get(tenant)
        if waiting is not None:
            waiting.append(message)
            return "delay"
        if not published:  # deleted: its records wait in Kafka
            self.waiting[tenant] = [message]
            if self.limits is not None:
                self.limits.hold(tenant, throttled=False)
            return "delay"
        if self.limits is None:
            return None
        if self.limits.admit(tenant):
            return None
        policy = self.limits.policy(tenant)
        if policy == "delay":
            self.waiting[tenant] = [message]
            self.limits.hold(tenant)
        return policy

    async def expire(self) -> None:
        """Finish the lines whose last piece did not come in time."""
        async with self._lock:
            released: list[HeldKey] = []
            outputs: list[Output] = []
            meters = self.meters.batch()
            for pipeline in self.pipelines.all():
                for record, outcome in pipeline.expire():
                    self._finish(
                        meters,
                        pipeline.tenant,
                        outcome,
                        topic=record.topic,
                        partition=record.partition,
                        released=released,
                        outputs=outputs,
                    )
            self._produce_all(outputs)
            if released:
                await self._flushed_then_release(released)
                meters.apply()

    def forget(self, topic: str, partition: int) -> None:
        """The partition was revoked: its held pieces will be read again by the next owner."""
        for pipeline in self.pipelines.all():
            pipeline.forget(topic, partition)
        for tenant, waiting in list(self.waiting.items()):
            kept = [m for m in waiting if m.topic != topic or m.partition != partition]
            if kept:
                self.waiting[tenant] = kept
            else:
                del self.waiting[tenant]
        for key in [k for k in self.held if k[0] == topic and k[1] == partition]:
            del self.held[key]

    def _finish(
        self,
        meters: MeterBatch,
        tenant: str,
        outcome: Outcome,
        *,
        topic: str,
        partition: int,
        released: list[HeldKey],
        outputs: list[Output],
    ) -> None:
        output = outcome.output
        if output is not None:
            outputs.append(output)
            if output.reason is None:
                meters.finished(tenant, "processed")
                for flag in output.flags:
                    meters.flagged(tenant, flag)
            else:
                meters.dead_lettered(tenant, output.reason)
        elif outcome.dropped is not None:
            meters.dropped(tenant, outcome.dropped)
        if outcome.joined:
            meters.finished(tenant, "joined", outcome.joined)
        released.extend((topic, partition, offset) for offset in outcome.released)

    def _produce_all(self, outputs: list[Output]) -> None:
        """Hand a batch's outputs to the producer in one tight run, after the batch was
        processed: the producer, which does not linger, then sends them in a few full requests
        instead of many small ones spread over the batch's processing (`bench.processor`:
        41.7 -> 27.2 µs of CPU per record)."""
        produce = self.deliveries.produce
        for output in outputs:
            produce(output.topic, output.value, output.key)

    async def _flushed_then_release(
        self, released: list[HeldKey], done: list[Any] | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.deliveries.settle, 60.0)
        except DeliveryError as exc:
            log.critical("%s; exiting so the batch is read again", exc)
            logging.shutdown()
            os._exit(EXIT_DELIVERY_FAILED)
        for message in done or ():
            self.ack(message)
        for key in released:
            held = self.held.pop(key, None)
            if held is not None:
                self.ack(held)


def build_app(
    config: ProcessorConfig,
    initial_topics: list[str],
    registry: TenantRegistry,
    pods: PodTable | None = None,
    joined: threading.Event | None = None,
) -> faust.App:
    """The Faust app, subscribed to `initial_topics` and watching for more.

    `registry` gives each tenant's live config version: its pipeline and the version stamped on
    every output. `pods` gives the pod watcher's records, for the `kubernetes` block.
    `joined` is set at the first assignment from the group (maybe empty), for /readyz.
    """
    joined = joined or threading.Event()
    if not initial_topics:
        raise ValueError("a processor needs at least one raw topic to subscribe to")
    app = faust.App(
        config.app_id,
        broker=[f"{TRANSPORT}://{host}" for host in config.kafka.bootstrap.split(",")],
        broker_credentials=faust_credentials(config.kafka),
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        broker_commit_interval=1.0,
        broker_max_poll_records=config.batch_max,
        **faust_group(config.instance_id),
        processing_guarantee="at_least_once",
        datadir=str(config.data_dir),
        PartitionAssignor=EvenAssignor,  # every partition on its own, not co-partitioned
    )
    resubscribe_after(app, RESUBSCRIBE_AFTER_S)
    raw = app.topic(*initial_topics, key_serializer="raw", value_serializer="raw")
    app.topics.add(raw)  # subscribed by the conductor; records arrive through BatchConsumer
    admin = AdminClient(config.kafka.admin())
    producer = Producer(config.kafka.producer())
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    lookup = pods.get if pods is not None else None
    limits = TenantLimits(
        lambda tenant: tenant_limits(registry, tenant),
        consumer.pause_partitions,
        consumer.resume_partitions,
    )
    batches = BatchProcessor(TenantPipelines(registry, lookup), producer, consumer.ack, limits)
    consumer.batch_handler = round_agent(app, batches.handle)
    consumer.linger_s = config.batch_linger_s

    # The event loop's own progress, for /livez: a timer that cannot run means a stuck loop.
    event_loop = LOOPS.add("processor event loop", max_silence_s=EVENT_LOOP_MAX_SILENCE_S)

    @app.timer(interval=0.5)  # type: ignore[untyped-decorator]
    async def expire_partial_lines() -> None:
        event_loop.beat()
        await batches.expire()

    @app.timer(interval=LIMITS_TICK_S)  # type: ignore[untyped-decorator]
    async def release_waiting_records() -> None:
        await consumer.exclusive(batches.release_waiting)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def partitions_assigned(_app: Any, assigned: Any, **_: Any) -> None:
        limits.assigned(assigned, partition_counts(consumer, admin))
        joined.set()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def partitions_revoked(_app: Any, revoked: Any, **_: Any) -> None:
        for tp in revoked:
            batches.forget(tp.topic, tp.partition)

    tenant_topics = TenantTopics(
        admin, RAW_TOPIC_RE, config.serves, config.discovery_interval_s, known=initial_topics
    )

    # A look every `discovery_interval_s`, or at the next tick after a publication.
    nudged_by_publications(
        config.kafka, tenant_topics, f"logway-processor-publications-{config.app_id}"
    )

    unpublished = UnpublishedTopics(lambda tenant: registry.get(tenant) is not None)

    @app.timer(interval=DISCOVERY_TICK_S)  # type: ignore[untyped-decorator]
    async def discover_tenants() -> None:
        found = await asyncio.get_running_loop().run_in_executor(None, tenant_topics.changed)
        new = unpublished.ready(set(found or ()) - set(raw.topics))
        if not new:
            return
        # A tenant's topics stay subscribed once found: a deleted tenant's raw topic is
        # simply empty (the subscription of a missing topic is harmless).
        raw.topics = sorted(set(raw.topics) | set(new))
        app.topics.discard(raw)
        app.topics.add(raw)

    return app


def run_processor(config: ProcessorConfig) -> None:
    """Run a processor worker until it is stopped (SIGINT/SIGTERM)."""
    observe(
        component="processor",
        kafka=config.kafka,
        group=config.app_id,
        kind=RAW_TOPIC_RE,
        serves=config.serves,
    )
    registry = TenantRegistry(config.kafka, "processor").start()
    READINESS.require("published tenant versions read", registry.caught_up.is_set)
    joined = threading.Event()
    READINESS.require("joined the consumer group", joined.is_set)
    pods = PodTable(config.kafka).start()
    if not pods.caught_up.wait(POD_TABLE_WAIT_S):  # so the first lines get their pod's labels
        log.warning("%s not read within %.0f s; going on without it", PODS_TOPIC, POD_TABLE_WAIT_S)
    wait_for_topics(config)  # `apply` makes `_logway.tenants` with a tenant's first topics
    wait_for_registry(registry)
    topics = wait_for_topics(config, lambda tenant: registry.get(tenant) is not None)
    log.info("processing %d raw topic(s): %s", len(topics), ", ".join(topics))
    app = build_app(config, topics, registry, pods, joined)
    worker = faust.Worker(app, loglevel="INFO", quiet=True)
    worker.execute_from_commandline()


def _name_by_headers(
    record: Record, headers: list[tuple[str, bytes | None]], value: bytes | None, tenant: str
) -> None:
    """The key and event id a record's headers give: a line of the node agent is keyed by its
    file and named by its line (`logway.core.agent`); a gateway event by its forward chunk."""
    line = agent_line(headers, value)
    if line is not None:
        record.key, record.event_id = line.key, line.event_id
        return
    record.event_id, refused = event_id_header(headers, tenant)
    if refused:
        record.flag(Flag.EVENT_ID_REFUSED)
