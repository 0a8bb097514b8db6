"""`logway tap`: one tenant's records as they pass, read beside the pipeline, never in its way.

Three stages, each a topic of the tenant:
- `raw` (`logs.<tenant>.raw`): as they arrived, from forwarders, producers and the gateway;
- `processed` (`logs.<tenant>.processed`): as the tenant's pipeline left them, with the route;
- `dlq` (`logs.<tenant>.dlq`): what failed, with the stage, the step and the reason.

The topics' partitions are assigned by hand, under a group name of the tenant's own (`<tenant>.`,
which its ACLs allow) that never joins and never commits: the workers' groups, offsets and lag
are untouched, and any number of taps may run. Records are shown from the end (live), or from
`last` records before it in each partition.

What a login may tap: the tenant's own Kafka login (its SCRAM user, from `apply
--credentials-dir` or its Secret) reads its dead letters; the raw and processed topics hold
what the platform's workers read, and need the platform's login. A stage the login may not read
is named in a `TapError`, with that advice.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from pydantic import ValidationError

from logway.core.deadletter import DeadLetter
from logway.core.document import BLOCK
from logway.core.kafka import KafkaConnection
from logway.core.names import dlq_topic, group_prefix, processed_topic, raw_topic

Stage = Literal["raw", "processed", "dlq"]
STAGES: tuple[Stage, ...] = ("raw", "processed", "dlq")
TOPIC_OF: dict[Stage, Callable[[str], str]] = {
    "raw": raw_topic,
    "processed": processed_topic,
    "dlq": dlq_topic,
}
SHOWN_CHARS = 240  # of a record's text, in the one-line form


class TapError(LookupError):
    """A stage that cannot be tapped: its topic is missing, or the login may not read it."""


@dataclass(frozen=True)
class Tapped:
    """One record of a tenant, as read from one stage's topic."""

    stage: Stage
    partition: int
    offset: int
    time: datetime  # the record's Kafka timestamp
    fields: dict[str, Any]  # what `--where` sees: the JSON object, a dead letter's fields,
    # or `{"log": <text>}` for a raw line that is not a JSON object
    text: str

    def line(self) -> str:
        """The record on one line: its time, stage and position, and what matters of it."""
        head = f"{self.time:%H:%M:%S.%f}"[:-3] + f" {self.stage:<9} {self.partition}:{self.offset}"
        if self.stage == "processed":
            meta = self.fields.get(BLOCK)
            route = meta.get("route") if isinstance(meta, dict) else None
            shown = {k: v for k, v in self.fields.items() if k != BLOCK}
            body = f"route={route} {orjson.dumps(shown).decode()}"
        elif self.stage == "dlq":
            f = self.fields
            body = f"{f.get('stage')}/{f.get('step')} {f.get('reason')}: {f.get('error')}"
        else:
            body = self.text
        return f"{head} {_clip(body)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "partition": self.partition,
            "offset": self.offset,
            "time": self.time.isoformat(),
            "record": self.fields,
        }


def _clip(text: str) -> str:
    flat = text.replace("\n", "\\n")
    return flat if len(flat) <= SHOWN_CHARS else flat[: SHOWN_CHARS - 1] + "…"


def read_tapped(stage: Stage, message: Message) -> Tapped:
    value = message.value() or b""
    text = value.decode("utf-8", errors="replace")
    fields: dict[str, Any]
    if stage == "dlq":
        try:
            fields = DeadLetter.from_bytes(value).model_dump(mode="json")
        except ValidationError:
            fields = {"log": text}
    else:
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        fields = parsed if isinstance(parsed, dict) else {"log": text}
    _kind, stamp = message.timestamp()
    return Tapped(
        stage,
        message.partition() or 0,
        message.offset() or 0,
        datetime.fromtimestamp(max(stamp, 0) / 1000, UTC),
        fields,
        text,
    )


@dataclass(frozen=True)
class Tap:
    """What to show of a tenant: which stages, which records (`where`), and what share of
    them (`sample`, 0-1, each matching record kept with that chance)."""

    tenant: str
    stages: Sequence[Stage] = STAGES
    where: Callable[[dict[str, Any]], bool] | None = None
    sample: float = 1.0
    last: int = 0  # records before the end of each partition to start from; 0: live

    def records(
        self,
        kafka: KafkaConnection,
        until: Callable[[], bool] = lambda: False,
        assigned: Callable[[list[TopicPartition]], None] = lambda _: None,
        chance: Callable[[], float] = random.random,
    ) -> Iterator[Tapped]:
        """The matching records as they are read, until `until()` is true (or forever);
        `assigned` hears which partitions are read, from where, before the first record."""
        group = f"{group_prefix(self.tenant)}tap"  # never joined, never committed
        consumer = Consumer(kafka.reader(group))
        try:
            stage_of = {TOPIC_OF[stage](self.tenant): stage for stage in self.stages}
            starts = self._starts(consumer, list(stage_of))
            consumer.assign(starts)
            assigned(starts)
            while not until():
                message = consumer.poll(0.2)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                        raise TapError(self._refusal(str(message.topic())))
                    continue
                tapped = read_tapped(stage_of[str(message.topic())], message)
                if self.where is not None and not self.where(tapped.fields):
                    continue
                if self.sample < 1.0 and chance() >= self.sample:
                    continue
                yield tapped
        finally:
            consumer.close()

    def _starts(self, consumer: Consumer, topics: list[str]) -> list[TopicPartition]:
        found = []
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            error = metadata.error if metadata is not None else None
            if error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                raise TapError(self._refusal(topic))
            if metadata is None or error is not None or not metadata.partitions:
                raise TapError(f"{topic} does not exist: is {self.tenant!r} applied?")
            for partition in metadata.partitions:
                # The end is asked for now, not left to the fetcher (OFFSET_END): a record
                # written once `assigned` has been told is then never skipped.
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                found.append(TopicPartition(topic, partition, max(low, high - self.last)))
        return found

    def _refusal(self, topic: str) -> str:
        advice = (
            "a tenant's own login reads its dead letters (--stage dlq); the raw and processed "
            "topics need the platform's login"
            if not topic.endswith(".dlq")
            else "log in as the tenant (its SCRAM user) or as the platform"
        )
        return f"this login may not read {topic}: {advice}"
