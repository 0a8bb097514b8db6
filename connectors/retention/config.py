"""Settings of the retention worker."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from logway.core.elastic import ElasticConnection
from logway.core.kafka import KafkaConnection


class RetentionConfig(BaseModel):
    """How often the retention worker measures the tenants' indices and deletes old days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConnection = Field(description="Kafka, to read the tenants' live versions.")
    es: ElasticConnection = Field(description="Elasticsearch, and the platform's login to it.")
    interval_s: float = Field(
        900, gt=0, le=86_400, description="Seconds between two rounds of measuring and deleting."
    )
    metrics_port: int = Field(
        9646, ge=0, le=65535, description="Port of the /metrics endpoint; 0 turns it off."
    )
