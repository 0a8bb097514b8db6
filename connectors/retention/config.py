"""Settings of the retention worker."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from logway.core.discovery import TenantsMatching
from logway.core.elastic import ElasticConnection
from logway.core.kafka import KafkaConnection


class RetentionConfig(BaseModel):
    """How often the retention worker measures the tenants' indices, deletes the generations
    they no longer keep and rolls routes over to new ones, and at what size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConnection = Field(description="Kafka, to read the tenants' live versions.")
    tenants_matching: TenantsMatching = ".*"
    es: ElasticConnection = Field(description="Elasticsearch, and the platform's login to it.")
    interval_s: float = Field(
        900, gt=0, le=86_400, description="Seconds between two rounds of measuring and deleting."
    )
    generation_max_bytes: int = Field(
        50 * 1024**3,
        ge=1,
        description="A route's newest index is rolled over once its primary shard holds this "
        "many bytes (or once it is the tenant's `retention_days` old).",
    )
    metrics_port: int = Field(
        9646, ge=0, le=65535, description="Port of the /metrics endpoint; 0 turns it off."
    )
