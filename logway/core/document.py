"""What logway adds to every indexed document, and the mapping Elasticsearch gives it.

- `logway`: who the event belongs to and where it came from (`LogwayBlock`);
- `kubernetes` and `container`: for a record the node forwarder read from a container's log
  file, the namespace, pod, container and container id from the file's path, and the pod's
  uid, node, labels and chosen annotations from the API server (`Kubernetes`, `Container`), in
  the names Elastic's own Kubernetes integration and Kibana's Logs views use;
- `data_stream`: `{type: logs, dataset: <tenant>, namespace: <route>}`, what Kibana's Logs
  Explorer filters on.

Labels and annotations are `flattened`: each is one field whose keys are values, so `app` and
`app.kubernetes.io/name` on one pod never conflict (with dynamic mapping, `app` as a string then
`app.kubernetes.io/name` under it as an object is the classic rejected document), and a pod's
many labels do not each become a mapped field.

The processor writes these (`streams.pipeline`), `apply` installs their mapping in each
tenant's index template (`document_mapping`, generated from the models here), and the sink
reads the event id, origin, route and arrival time from the block. Each field says its
Elasticsearch type once, here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, get_args

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


class Named(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(json_schema_extra=es("keyword"))


class Pod(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(json_schema_extra=es("keyword"))
    uid: str | None = Field(None, json_schema_extra=es("keyword"))


class Kubernetes(BaseModel):
    """Where a container's line came from, in Kubernetes' terms."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str = Field(json_schema_extra=es("keyword"))
    pod: Pod
    container: Named
    node: Named | None = None
    labels: dict[str, str] = Field(default_factory=dict, json_schema_extra=es("flattened"))
    annotations: dict[str, str] = Field(default_factory=dict, json_schema_extra=es("flattened"))


class Container(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(json_schema_extra=es("keyword"))


class DataStream(BaseModel):
    """ECS `data_stream`: the tenant is the dataset, the route the namespace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field("logs", json_schema_extra=es("keyword"))
    dataset: str = Field(json_schema_extra=es("keyword"))
    namespace: str = Field(json_schema_extra=es("keyword"))


def document_mapping() -> dict[str, Any]:
    """The `properties` of what logway adds to a document, for each tenant's index template."""
    return {
        "@timestamp": {"type": "date"},
        BLOCK: mapping(LogwayBlock),
        "kubernetes": mapping(Kubernetes),
        "container": mapping(Container),
        "data_stream": mapping(DataStream),
    }


def _model(kind: Any) -> type[BaseModel] | None:
    """The model a field holds, also when it is optional."""
    for candidate in (kind, *get_args(kind)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def mapping(model: type[BaseModel] = LogwayBlock) -> dict[str, Any]:
    """The Elasticsearch `properties` of `model`: each field's declared type, nested models as
    objects."""
    properties: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        nested = _model(field.annotation)
        if nested is not None:
            properties[name] = {"properties": mapping(nested)["properties"]}
            continue
        extra = field.json_schema_extra
        if not isinstance(extra, dict) or not isinstance(extra.get("es"), str):
            raise TypeError(f"{model.__name__}.{name} declares no Elasticsearch type")
        properties[name] = {"type": extra["es"]}
    return {"properties": properties}
