"""The processor's Faust app: one agent over every served tenant's `logs.<tenant>.raw`.

Delivery (at-least-once, nothing lost on `kill -9`):
- the outputs of a record are attached to its offset (`stream_publish_on_commit`) and Faust
  commits an offset only after every record attached to it is acknowledged by Kafka (acks=all);
  a failed send crashes the worker instead of committing past it;
- one agent, concurrency 1 (faust-streaming #606: concurrency > 1 can commit past an in-flight
  record);
- outputs are keyed by the event id, which the sink uses as `_id`, so records processed again
  after a crash overwrite their earlier copies downstream.

Faust's `Topic(pattern=...)` does not subscribe with the aiokafka driver, so the worker lists the
broker's topics itself every `discovery_interval_s` and resubscribes when a tenant appears.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from confluent_kafka.admin import AdminClient

from logway.metrics import STEP_SECONDS, TenantMeters, observe
from streams.config import ProcessorConfig
from streams.origin import Origin
from streams.processing import process_record
from topology.discovery import served_topics
from topology.names import RAW_TOPIC_RE, tenant_of_topic
from topology.registry import TenantRegistry

log = logging.getLogger("logway.processor")


def served_raw_topics(admin: AdminClient, config: ProcessorConfig) -> list[str]:
    """The raw topics on the broker that belong to tenants this worker serves."""
    return served_topics(admin, RAW_TOPIC_RE, config.serves)


def build_app(
    config: ProcessorConfig, initial_topics: list[str], registry: TenantRegistry
) -> faust.App:
    """The Faust app, subscribed to `initial_topics` and watching for more.

    `registry` gives each tenant's live config version, stamped on every output.
    """
    if not initial_topics:
        raise ValueError("a processor needs at least one raw topic to subscribe to")
    app = faust.App(
        config.app_id,
        broker=[f"kafka://{host}" for host in config.kafka_bootstrap.split(",")],
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        stream_publish_on_commit=True,
        producer_acks=-1,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        datadir=str(config.data_dir),
    )
    raw = app.topic(*initial_topics, key_serializer="raw", value_serializer="raw")
    outputs: dict[str, Any] = {}
    admin = AdminClient({"bootstrap.servers": config.kafka_bootstrap, "log_level": 0})

    def output_topic(name: str) -> Any:
        topic = outputs.get(name)
        if topic is None:
            topic = outputs[name] = app.topic(name, key_serializer="raw", value_serializer="raw")
        return topic

    meters = TenantMeters("processor")
    tenants: dict[str, str] = {}  # raw topic -> tenant, worked out once per topic
    parse_seconds = STEP_SECONDS.labels(component="processor", step="parse")

    @app.agent(raw, concurrency=1)
    async def process(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            tenant = tenants.get(message.topic)
            if tenant is None:
                tenant = tenants[message.topic] = tenant_of_topic(message.topic) or message.topic
            meters.read(tenant, len(event.value or b""))
            origin = Origin(topic=message.topic, partition=message.partition, offset=message.offset)
            timestamp_ms = int(message.timestamp * 1000) if message.timestamp else None
            started = time.perf_counter()
            version = registry.version_of(tenant)
            output = process_record(tenant, origin, event.value, timestamp_ms, version)
            parse_seconds.observe(time.perf_counter() - started)
            await output_topic(output.topic).send(key=output.key, value=output.value)
            if output.reason is None:
                meters.finished(tenant, "processed")
            else:
                meters.dead_lettered(tenant, output.reason)

    @app.timer(interval=config.discovery_interval_s)  # type: ignore[untyped-decorator]
    async def discover_tenants() -> None:
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(None, served_raw_topics, admin, config)
        except Exception as exc:
            log.warning("listing topics failed, will retry: %s", exc)
            return
        current = set(raw.topics)
        new = sorted(set(found) - current)
        if not new:
            return
        log.info("new tenant topics, resubscribing: %s", ", ".join(new))
        wanted = sorted(current | set(new))
        # The agent reads a clone of `raw`, and that clone is what the conductor subscribes.
        for channel in list(app.topics):
            if set(getattr(channel, "topics", ())) == current:
                channel.topics = wanted
                app.topics.discard(channel)
                app.topics.add(channel)
        raw.topics = wanted

    return app


def wait_for_topics(config: ProcessorConfig, stop_after_s: float | None = None) -> list[str]:
    """Block until at least one served raw topic exists; return them."""
    admin = AdminClient({"bootstrap.servers": config.kafka_bootstrap, "log_level": 0})
    started = time.monotonic()
    announced = False
    while True:
        try:
            topics = served_raw_topics(admin, config)
        except Exception as exc:
            log.warning("Kafka at %s not answering yet: %s", config.kafka_bootstrap, exc)
            topics = []
        if topics:
            return topics
        if stop_after_s is not None and time.monotonic() - started > stop_after_s:
            return []
        if not announced:
            log.warning(
                "no raw topics for tenants matching %r yet; run `logway apply` (waiting)",
                config.tenants_matching,
            )
            announced = True
        time.sleep(config.discovery_interval_s)


def run_processor(config: ProcessorConfig) -> None:
    """Run a processor worker until it is stopped (SIGINT/SIGTERM)."""
    observe(
        port=config.metrics_port,
        component="processor",
        bootstrap=config.kafka_bootstrap,
        group=config.app_id,
        kind=RAW_TOPIC_RE,
        serves=config.serves,
    )
    registry = TenantRegistry(config.kafka_bootstrap, "processor").start()
    topics = wait_for_topics(config)
    log.info("processing %d raw topic(s): %s", len(topics), ", ".join(topics))
    app = build_app(config, topics, registry)
    worker = faust.Worker(app, loglevel="INFO", quiet=True)
    worker.execute_from_commandline()
