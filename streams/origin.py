"""Where a record came from, and the event id derived from it.

The id is the Elasticsearch `_id` and the dead letter's key, so a record read twice (after a
crash, a rebalance or a replay) overwrites itself instead of turning into a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

# A raw record may carry its event id in this header (the gateway names forwarded events by
# their chunk), so that an event sent twice keeps one id; without it the id is the origin's.
EVENT_ID_HEADER = "logway-event-id"


class Origin(BaseModel):
    """The raw record an event came from: topic, partition, offset, and its index within it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(description="Raw topic the record was read from.")
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    index: int = Field(0, ge=0, description="Position of the event within the record (0 for one).")

    @property
    def event_id(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}:{self.index}"


def event_id_header(headers: Iterable[tuple[str, bytes | None]]) -> str | None:
    """The event id a producer gave the record in `EVENT_ID_HEADER`, if any."""
    for name, value in headers:
        if name == EVENT_ID_HEADER and value:
            return value.decode("utf-8", "replace")[:300]
    return None
