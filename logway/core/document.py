"""The `logway` block every indexed document carries, and the mapping Elasticsearch gives it.

The processor writes the block (`streams.pipeline`), `apply` installs its mapping in each
tenant's index template (`mapping`, generated from `LogwayBlock`), and the sink reads the event
id, origin, route and arrival time from it. Each field says its Elasticsearch type once, here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from logway.core.origin import Origin

BLOCK = "logway"  # the document's key of the block


def es(kind: str) -> dict[str, Any]:
    """A field's Elasticsearch type, for `mapping`."""
    return {"es": kind}


class Flag(StrEnum):
    """What logway noticed about an event, set `true` in its block: a bounded set, counted
    (`logway_flagged_records_total`) and searchable."""

    PARTIAL = "partial"  # a line cut short (reassembly gave up on its last piece)
    TIMESTAMP_FALLBACK = "timestamp_fallback"  # no usable time: the arrival time stands in
    FOREIGN_FIELDS_MOVED = "foreign_fields_moved"  # the record's own `logway` keys moved aside
    EVENT_ID_REFUSED = "event_id_refused"  # a `logway-event-id` header not in the gateway's form


class LogwayBlock(BaseModel):
    """The `logway` object of an indexed document: who it belongs to, where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str = Field(json_schema_extra=es("keyword"))
    id: str = Field(
        description="The event id, also the document's _id.", json_schema_extra=es("keyword")
    )
    origin: Origin
    received_at: str = Field(
        description="When Kafka took the raw record (RFC 3339, UTC).", json_schema_extra=es("date")
    )
    route: str = Field(json_schema_extra=es("keyword"))
    tenant_version: str | None = Field(
        None,
        description="The tenant's config version that processed it.",
        json_schema_extra=es("keyword"),
    )
    partial: bool = Field(False, json_schema_extra=es("boolean"))
    timestamp_fallback: bool = Field(False, json_schema_extra=es("boolean"))
    foreign_fields_moved: bool = Field(False, json_schema_extra=es("boolean"))
    event_id_refused: bool = Field(False, json_schema_extra=es("boolean"))


def mapping(model: type[BaseModel] = LogwayBlock) -> dict[str, Any]:
    """The Elasticsearch `properties` of `model`: each field's declared type, nested models as
    objects."""
    properties: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            properties[name] = {"properties": mapping(kind)["properties"]}
            continue
        extra = field.json_schema_extra
        if not isinstance(extra, dict) or not isinstance(extra.get("es"), str):
            raise TypeError(f"{model.__name__}.{name} declares no Elasticsearch type")
        properties[name] = {"type": extra["es"]}
    return {"properties": properties}
