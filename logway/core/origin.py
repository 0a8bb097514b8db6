"""Where a record came from, and the event id derived from it.

The id is the Elasticsearch `_id` and the dead letter's key, so a record read twice (after a
crash, a rebalance or a replay) overwrites itself instead of turning into a duplicate.

A raw record may carry its id in the `logway-event-id` header: the gateway names each forwarded
event by its chunk, so an event a client sends twice keeps one id. Anyone allowed to write a
tenant's raw topic can set headers, so a header is taken only in the gateway's own form,
`fwd:<tenant>:<chunk>:<index>`, naming the record's own tenant, with a bounded chunk of a fixed
alphabet. Anything else is refused (counted), and the id is derived from the origin: a
producer can never make an id Elasticsearch refuses, nor name an event of another tenant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from logway.core.names import TENANT_NAME

EVENT_ID_HEADER = "logway-event-id"
# Fluentd's and fluent-logger's chunk ids are base64 of 16 random bytes (24 characters).
CHUNK_ID = r"[A-Za-z0-9+/=_-]{1,64}"
_CHUNK_ID_RE = re.compile(CHUNK_ID)
FORWARDED_ID_RE = re.compile(rf"fwd:({TENANT_NAME}):{CHUNK_ID}:(?:0|[1-9][0-9]{{0,5}})")  # whole
MAX_EVENT_ID_BYTES = 128  # the longest the form above allows, well under Elasticsearch's 512


class Origin(BaseModel):
    """The raw record an event came from: topic, partition, offset, and its index within it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(
        description="Raw topic the record was read from.", json_schema_extra={"es": "keyword"}
    )
    partition: int = Field(ge=0, json_schema_extra={"es": "integer"})
    offset: int = Field(ge=0, json_schema_extra={"es": "long"})
    index: int = Field(
        0,
        ge=0,
        description="Position of the event within the record (0 for one).",
        json_schema_extra={"es": "integer"},
    )

    @property
    def event_id(self) -> str:
        return origin_event_id(self.topic, self.partition, self.offset, self.index)


def origin_event_id(topic: str, partition: int, offset: int, index: int = 0) -> str:
    """The id of the `index`th event of the raw record at topic, partition and offset."""
    return f"{topic}:{partition}:{offset}:{index}"


def forwarded_id_prefix(tenant: str, chunk: str | None) -> str | None:
    """The ids the gateway gives the events of a forward chunk are this prefix and the event's
    index; None when the chunk id (a client's choice) is not of the accepted form, and the
    origin must name the events."""
    if chunk is None or not _CHUNK_ID_RE.fullmatch(chunk):
        return None
    return f"fwd:{tenant}:{chunk}:"


def event_id_header(
    headers: Iterable[tuple[str, bytes | None]], tenant: str
) -> tuple[str | None, bool]:
    """(the event id a producer gave a record of `tenant` in `EVENT_ID_HEADER`, whether a
    header was there but refused). An id is taken only in the gateway's form, naming `tenant`."""
    for name, value in headers:
        if name != EVENT_ID_HEADER or not value:
            continue
        if len(value) > MAX_EVENT_ID_BYTES:
            return None, True
        match = FORWARDED_ID_RE.fullmatch(value.decode("ascii", "replace"))
        if match is None or match.group(1) != tenant:
            return None, True
        return match.group(0), False
    return None, False
