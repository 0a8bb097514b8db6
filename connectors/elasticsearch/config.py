"""Settings of a sink worker."""

from __future__ import annotations

from pydantic import Field

from connectors.runtime.config import GroupWorkerConfig
from logway.core.elastic import ElasticConnection


class SinkConfig(GroupWorkerConfig):
    """How one sink worker consumes processed topics and writes to Elasticsearch."""

    es: ElasticConnection = Field(description="Elasticsearch's URL and this worker's login.")
    group_id: str = Field(
        "logway-sink",
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="Kafka consumer group shared by all sink workers.",
    )
    batch_max_records: int = Field(1000, ge=1, le=50_000, description="Most records per bulk.")
    batch_max_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024 * 1024,
        le=64 * 1024 * 1024,
        description="Most bytes of records per bulk (a larger record goes alone): a tenant's "
        "largest records (up to 8 MiB each) cannot make a request over Elasticsearch's "
        "http.max_content_length (100 MB), nor hold the sink's memory at a thousand of them. "
        "At most 64 MiB: the action lines and retried halves come on top.",
    )
    batch_max_wait_s: float = Field(
        0.5,
        gt=0,
        le=30,
        description="How long one wait for records lasts when there is nothing to do (a batch "
        "is sent as soon as Elasticsearch is free, never held back to fill).",
    )
    bulks_in_flight: int = Field(
        2,
        ge=1,
        le=8,
        description="Most bulk requests in Elasticsearch at a time; a second one is sent only "
        "with a full batch.",
    )
    retry_initial_s: float = Field(0.2, gt=0, description="First retry delay; doubles each time.")
    retry_max_s: float = Field(30.0, gt=0, description="Longest delay between retries.")
    metrics_port: int = Field(
        9642, ge=0, le=65535, description="Port of the /metrics endpoint; 0 turns it off."
    )
