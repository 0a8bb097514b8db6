"""Settings of a sink worker."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from logway.core.discovery import TenantsMatching
from logway.core.kafka import INSTANCE_ID, KafkaConnection


class SinkConfig(BaseModel):
    """How one sink worker consumes processed topics and writes to Elasticsearch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConnection = Field(description="Kafka's servers and this worker's login.")
    es_url: str = Field(description="Elasticsearch URL.")
    group_id: str = Field(
        "logway-sink",
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="Kafka consumer group shared by all sink workers.",
    )
    tenants_matching: TenantsMatching = ".*"
    instance_id: str | None = Field(
        None,
        pattern=INSTANCE_ID,
        description="This worker's lasting name in its group (static membership): started "
        "again under the same name, it takes back its partitions at once instead of after the "
        "group's session timeout (10 s). One name per worker (the Helm chart gives the pod's "
        "name); unset, each start joins as a new member.",
    )
    batch_max_records: int = Field(1000, ge=1, le=50_000, description="Most records per bulk.")
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
    discovery_interval_s: float = Field(
        10.0, gt=0, le=300, description="How often to look for new tenants' processed topics."
    )
