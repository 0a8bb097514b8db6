"""Looking at a tenant's dead letters, and replaying them through its current config.

`read_dead_letters` reads `logs.<tenant>.dlq` from its beginning to its current end (no consumer
group: looking never moves anything). `replay` sends each selected dead letter through the
tenant's live pipeline again, with its original origin, so the document it now makes carries the
same event id it would have had: the sink writes it with the same `_id`, and replaying twice
overwrites instead of duplicating.

- a dead letter from the processor is processed again from its original bytes: what passes now
  is produced to `logs.<tenant>.processed`; what fails again is counted by reason and not
  written again (its dead letter is still in the topic);
- a dead letter from the sink (the document Elasticsearch refused) is produced to
  `logs.<tenant>.processed` again as it was, for the sink to try once more.
Nothing is produced until every selected letter was run (a dry run stops there).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from pydantic import ValidationError

from connectors.runtime.commit import Deliveries, DeliveryError
from logway.core.deadletter import DeadLetter, Reason, Stage
from logway.core.kafka import KafkaConnection
from logway.core.names import dlq_topic, processed_topic
from streams.pipeline import Outcome, TenantPipeline
from streams.steps.base import Record
from topology.publish import read_published

DURATION = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `2h`, `7d` -> a timedelta; anything else is a ValueError saying so."""
    match = DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration: a number and s, m, h or d, e.g. 2h")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Selection:
    tenant: str
    reason: Reason | None = None
    since: timedelta | None = None

    def wants(self, letter: DeadLetter) -> bool:
        if self.reason is not None and letter.reason is not self.reason:
            return False
        return self.since is None or letter.failed_at >= datetime.now(UTC) - self.since


@dataclass
class Unreadable:
    """Records of the DLQ topic that are not dead letters (counted, never fatal)."""

    count: int = 0


def read_dead_letters(
    kafka: KafkaConnection,
    selection: Selection,
    unreadable: Unreadable | None = None,
    timeout: float = 30,
) -> Iterator[DeadLetter]:
    """The selected dead letters of a tenant, oldest first per partition.

    With `selection.since`, reading starts at the offsets Kafka gives for that time, so a long
    retention is not read from its beginning to find the last hour."""
    topic = dlq_topic(selection.tenant)
    consumer = Consumer(kafka.reader("logway-dlq-reader"))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise LookupError(f"{topic} does not exist: is {selection.tenant!r} applied?")
        partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
        ends = {}
        for tp in partitions:
            _low, high = consumer.get_watermark_offsets(tp, timeout=10)
            ends[tp.partition] = high
        if selection.since is not None:
            since_ms = int((datetime.now(UTC) - selection.since).timestamp() * 1000)
            wanted = [TopicPartition(topic, tp.partition, since_ms) for tp in partitions]
            partitions = [
                tp if tp.offset >= 0 else TopicPartition(topic, tp.partition, ends[tp.partition])
                for tp in consumer.offsets_for_times(wanted, timeout=10)
            ]
        pending = {tp.partition for tp in partitions if tp.offset < ends[tp.partition]}
        consumer.assign(partitions)
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while pending and datetime.now(UTC) < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            partition = message.partition() or 0
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(partition)
                continue
            if (message.offset() or 0) + 1 >= ends[partition]:
                pending.discard(partition)
            try:
                letter = DeadLetter.from_bytes(message.value() or b"")
            except ValidationError:
                if unreadable is not None:
                    unreadable.count += 1
                continue
            if selection.wants(letter):
                yield letter
    finally:
        consumer.close()


@dataclass
class ReplayReport:
    selected: int = 0
    passed: int = 0
    resent_to_sink: int = 0
    dropped: int = 0
    failed_again: Counter[str] = field(default_factory=Counter)
    version: str | None = None

    def lines(self) -> list[str]:
        out = [
            f"{self.selected} dead letter(s) selected, replayed with tenant version "
            f"{self.version or '(none published: the default pipeline)'}",
            f"  pass now: {self.passed} (sent to the processed topic with their original ids)",
        ]
        if self.resent_to_sink:
            out.append(
                f"  refused by Elasticsearch before, sent to the sink again: {self.resent_to_sink}"
            )
        if self.dropped:
            out.append(f"  dropped by the tenant's own rules now: {self.dropped}")
        fails = sum(self.failed_again.values())
        detail = ", ".join(f"{reason} {n}" for reason, n in self.failed_again.most_common())
        out.append(f"  fail again: {fails}" + (f" ({detail})" if detail else ""))
        return out


def replay(kafka: KafkaConnection, selection: Selection, dry_run: bool = False) -> ReplayReport:
    """Run the selected dead letters through the tenant's live config; see the module doc."""
    published = read_published(kafka).get(selection.tenant)
    if published is None:
        pipeline = TenantPipeline(selection.tenant)
    else:
        spec = published.spec
        pipeline = TenantPipeline(spec.name, spec.pipeline, spec.routes, published.version)
    report = ReplayReport(version=pipeline.version)
    outputs: list[tuple[bytes, bytes]] = []
    for letter in read_dead_letters(kafka, selection):
        report.selected += 1
        if letter.stage is Stage.SINK:
            outputs.append((letter.event_id.encode(), letter.original_bytes()))
            report.resent_to_sink += 1
            continue
        source = letter.source
        record_ms = int(letter.record_time.timestamp() * 1000) if letter.record_time else 0
        record = Record(source.topic, source.partition, source.offset, None, record_ms)
        if letter.event_id != source.event_id:  # the producer named it (forwarded events)
            record.event_id = letter.event_id
        outcome = pipeline.process(letter.original_bytes(), record)
        _count(outcome, report, outputs)
    for _record, outcome in pipeline.expire(now=math.inf):  # split lines never finished
        _count(outcome, report, outputs)
    if outputs and not dry_run:
        _produce(kafka, processed_topic(selection.tenant), outputs)
    return report


def _count(outcome: Outcome, report: ReplayReport, outputs: list[tuple[bytes, bytes]]) -> None:
    output = outcome.output
    if output is None:
        if outcome.dropped:
            report.dropped += 1
        return
    if output.reason is not None:
        report.failed_again[str(output.reason)] += 1
        return
    outputs.append((output.key, output.value))
    report.passed += 1


def _produce(kafka: KafkaConnection, topic: str, outputs: list[tuple[bytes, bytes]]) -> None:
    deliveries = Deliveries(Producer(kafka.producer()), f"replayed record(s) for {topic}")
    for key, value in outputs:
        deliveries.produce(topic, value, key)
    try:
        deliveries.settle()
    except DeliveryError as exc:
        raise RuntimeError(f"{exc}; replaying again is safe") from None
