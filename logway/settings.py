"""Where the shared servers are. Every process reads these once at start-up."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_ES_URL = "http://127.0.0.1:9200"


class Endpoints(BaseModel):
    """The Kafka cluster and Elasticsearch cluster a logway process talks to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka_bootstrap: str = Field(
        DEFAULT_KAFKA_BOOTSTRAP,
        description="Kafka bootstrap servers, comma-separated host:port (LOGWAY_KAFKA_BOOTSTRAP).",
        examples=["127.0.0.1:9092", "kafka-0.kafka:9092,kafka-1.kafka:9092"],
    )
    es_url: str = Field(
        DEFAULT_ES_URL,
        description="Elasticsearch URL (LOGWAY_ES_URL).",
        examples=["http://127.0.0.1:9200"],
    )

    @classmethod
    def from_env(cls) -> Endpoints:
        return cls(
            kafka_bootstrap=os.environ.get("LOGWAY_KAFKA_BOOTSTRAP", DEFAULT_KAFKA_BOOTSTRAP),
            es_url=os.environ.get("LOGWAY_ES_URL", DEFAULT_ES_URL),
        )
