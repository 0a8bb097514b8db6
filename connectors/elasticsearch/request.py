"""What goes into a bulk request: a consumed processed record made ready for Elasticsearch,
or a dead letter when it is not a logway document."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from confluent_kafka import Message

from connectors.elasticsearch.index import Generations
from logway.core.deadletter import DeadLetter, Reason, Stage
from logway.core.document import BLOCK
from logway.core.names import PROCESSED_TOPIC_RE
from logway.core.origin import Origin


@dataclass
class Pending:
    """One processed record on its way to Elasticsearch."""

    message: Message
    tenant: str
    event_id: str
    index: str
    document: bytes
    source: Origin  # where the record was first read (its raw topic)
    here: Origin  # where the sink read it (its processed topic)


def position(message: Message) -> Origin | None:
    """Where a consumed record sits (None only for error events, which carry no position)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        return None
    # Kafka's own coordinates, not input to check: validating them was a tenth of the sink's
    # CPU (py-spy, bench.pipeline).
    return Origin.model_construct(topic=topic, partition=partition, offset=offset)


def prepare(
    message: Message, here: Origin, generations: Generations, now: datetime
) -> Pending | DeadLetter:
    """The record at `here`, read at `now`, as a bulk item: `_id` = its event id, index = the
    generation of its route that holds its time. The document is sent byte for byte as the
    processor wrote it."""
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
    index = generations.index(tenant, document, now)
    return Pending(message, tenant, event_id, index, value, source, here)


def bulk_body(pending: list[Pending]) -> list[bytes]:
    """Pre-serialised NDJSON lines: an action line, then the document as it was consumed."""
    body: list[bytes] = []
    for item in pending:
        body.append(orjson.dumps({"index": {"_index": item.index, "_id": item.event_id}}))
        body.append(item.document)
    return body
